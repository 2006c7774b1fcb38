package console

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/internal/store"
)

// fakeBucket hands out temporary files holding "recording of ID", counting downloads; a
// download waits for gate when set.
type fakeBucket struct {
	t     *testing.T
	n     atomic.Int32
	gate  chan struct{}
	fail  atomic.Bool
	mu    sync.Mutex
	files []*os.File
}

func (b *fakeBucket) fetch(ctx context.Context, s store.Session) (*os.File, error) {
	b.n.Add(1)
	if b.gate != nil {
		select {
		case <-b.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if b.fail.Load() {
		return nil, errors.New("sha256 is not the audited one")
	}
	f, err := os.CreateTemp(b.t.TempDir(), "rec")
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(f, "recording of %s", s.ID)
	b.mu.Lock()
	b.files = append(b.files, f)
	b.mu.Unlock()
	return f, nil
}

// closed counts the files handed out that were closed since.
func (b *fakeBucket) closed() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, f := range b.files {
		if _, err := f.Stat(); errors.Is(err, os.ErrClosed) {
			n++
		}
	}
	return n
}

func readAll(t *testing.T, c *archivedCache, id string) string {
	t.Helper()
	r, size, done, err := c.open(context.Background(), store.Session{ID: id, SHA256: "h"})
	if err != nil {
		t.Fatalf("open %s: %v", id, err)
	}
	defer done()
	b, err := io.ReadAll(r)
	if err != nil || int64(len(b)) != size {
		t.Fatalf("read %s: %q (size %d) %v", id, b, size, err)
	}
	return string(b)
}

// TestArchivedCacheSharesDownloads: the requests of one replay (index, segments, search) that
// arrive together wait for one download and each read it from its start; a later request reads
// the kept copy; another session's recording is its own download.
func TestArchivedCacheSharesDownloads(t *testing.T) {
	b := &fakeBucket{t: t, gate: make(chan struct{})}
	c := newArchivedCache(b.fetch, time.Now)
	var wg sync.WaitGroup
	got := make([]string, 8)
	for i := range got {
		wg.Add(1)
		go func() { defer wg.Done(); got[i] = readAll(t, c, "s1") }()
	}
	for b.n.Load() == 0 {
		time.Sleep(time.Millisecond) // the first request started the download
	}
	close(b.gate)
	wg.Wait()
	for _, g := range got {
		if g != "recording of s1" {
			t.Fatalf("read %q", g)
		}
	}
	if readAll(t, c, "s1"); b.n.Load() != 1 {
		t.Fatalf("%d downloads for one recording", b.n.Load())
	}
	if g := readAll(t, c, "s2"); g != "recording of s2" || b.n.Load() != 2 {
		t.Fatalf("s2: %q after %d downloads", g, b.n.Load())
	}
}

// TestArchivedCacheFailureNotKept: a refused download (hash mismatch) is answered to every
// waiter and not kept: the next request downloads again.
func TestArchivedCacheFailureNotKept(t *testing.T) {
	b := &fakeBucket{t: t}
	b.fail.Store(true)
	c := newArchivedCache(b.fetch, time.Now)
	for range 2 {
		if _, _, _, err := c.open(context.Background(), store.Session{ID: "s1"}); err == nil {
			t.Fatal("a refused download was read")
		}
	}
	if b.n.Load() != 2 || c.held() != 0 {
		t.Fatalf("%d downloads, %d held", b.n.Load(), c.held())
	}
	b.fail.Store(false)
	if g := readAll(t, c, "s1"); g != "recording of s1" {
		t.Fatal(g)
	}
}

// TestArchivedCacheBounded: at most archivedKeep unused downloads stay open (the least recently
// used goes first); one in use is never closed under its reader; an unused one is closed after
// the idle time.
func TestArchivedCacheBounded(t *testing.T) {
	b := &fakeBucket{t: t}
	now := time.Unix(0, 0)
	c := newArchivedCache(b.fetch, func() time.Time { now = now.Add(time.Second); return now })
	r0, _, done0, err := c.open(context.Background(), store.Session{ID: "busy"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range archivedKeep + 2 {
		readAll(t, c, fmt.Sprint("s", i))
	}
	if c.held() != archivedKeep || b.closed() != 3 {
		t.Fatalf("%d held, %d closed", c.held(), b.closed())
	}
	// The one in use still reads; closed once released (it left the map while in use).
	if g, err := io.ReadAll(r0); err != nil || string(g) != "recording of busy" {
		t.Fatalf("the download in use: %q %v", g, err)
	}
	done0()
	done0() // twice is harmless
	// "busy" was the oldest but in use: the three oldest unused went instead, and it stays.
	if c.held() != archivedKeep || b.closed() != 3 {
		t.Fatalf("after release: %d held, %d closed", c.held(), b.closed())
	}
	c.mu.Lock()
	c.idle = 10 * time.Millisecond
	c.mu.Unlock()
	readAll(t, c, "last") // evicts s3, the least recently used; gone itself after 10 ms unused
	for deadline := time.Now().Add(5 * time.Second); c.held() > archivedKeep-1 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	c.mu.Lock()
	_, last := c.entries["last\x00h"]
	_, busy := c.entries["busy\x00"]
	c.mu.Unlock()
	if last || !busy || b.closed() != 5 {
		t.Fatalf("after the idle time: last kept %v, busy kept %v, %d closed", last, busy, b.closed())
	}
}
