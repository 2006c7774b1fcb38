package console

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"gatehouse/internal/store"
)

// Bounds of the archived recordings the console keeps downloaded. The segmented player asks for
// the index and then one segment after another, each a request of its own: without keeping the
// download, a 1-hour recording in the bucket would be fetched again for every segment.
const (
	archivedKeep    = 4               // downloaded recordings kept open, at most (beyond: the least recently used unused one goes)
	archivedIdle    = 5 * time.Minute // an unused download is closed (its disk space freed) after this
	archivedTimeout = 5 * time.Minute // one download, whoever waits for it
)

// archivedCache shares the downloads of recordings that are only in the archive bucket between
// the requests of a replay. Each download is an unlinked temporary file whose SHA-256 the
// archive client checked against the audited one; it is read through a SectionReader per
// request (ReadAt: no shared offset). Keyed by the session's id and audited hash, so a request
// only ever reads the recording of the session it was authorised for.
type archivedCache struct {
	fetch func(ctx context.Context, s store.Session) (*os.File, error)
	now   func() time.Time
	idle  time.Duration // archivedIdle (tests shorten it)

	mu      sync.Mutex
	entries map[string]*archivedEntry
}

type archivedEntry struct {
	ready chan struct{} // closed when the download ended (f or err set)
	f     *os.File
	size  int64
	err   error

	// Under the cache's mu:
	refs     int
	lastUsed time.Time
	gone     bool // dropped from the map: closed when the last user releases it
	timer    *time.Timer
}

func newArchivedCache(fetch func(context.Context, store.Session) (*os.File, error), now func() time.Time) *archivedCache {
	return &archivedCache{fetch: fetch, now: now, idle: archivedIdle, entries: map[string]*archivedEntry{}}
}

// open returns a reader of the session's recording from the bucket and its size; release must
// be called when done. Concurrent requests for the same recording wait for one download.
func (c *archivedCache) open(ctx context.Context, s store.Session) (io.Reader, int64, func(), error) {
	key := s.ID + "\x00" + s.SHA256
	c.mu.Lock()
	e, ok := c.entries[key]
	if !ok {
		e = &archivedEntry{ready: make(chan struct{})}
		c.entries[key] = e
		// The download outlives the request that started it (others may wait for it), bounded.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), archivedTimeout)
		go func() {
			defer cancel()
			f, err := c.fetch(dctx, s)
			var size int64
			if err == nil {
				var st os.FileInfo
				if st, err = f.Stat(); err == nil {
					size = st.Size()
				} else {
					_ = f.Close() // the stat error is the one to report
				}
			}
			c.mu.Lock()
			e.f, e.size, e.err = f, size, err
			if err != nil && c.entries[key] == e {
				delete(c.entries, key) // the next request tries again
				e.gone = true
			}
			c.mu.Unlock()
			close(e.ready)
		}()
	}
	e.refs++
	if e.timer != nil {
		e.timer.Stop()
		e.timer = nil
	}
	c.mu.Unlock()

	select {
	case <-e.ready:
	case <-ctx.Done():
		c.release(key, e)
		return nil, 0, nil, ctx.Err()
	}
	if e.err != nil {
		c.release(key, e)
		return nil, 0, nil, e.err
	}
	var once sync.Once
	return io.NewSectionReader(e.f, 0, e.size), e.size, func() { once.Do(func() { c.release(key, e) }) }, nil
}

// release drops one user of e; an unused entry is closed at once when it left the map, else
// after archivedIdle, and the least recently used unused ones go beyond archivedKeep.
func (c *archivedCache) release(key string, e *archivedEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e.refs--
	e.lastUsed = c.now()
	if e.refs > 0 {
		return
	}
	if e.gone {
		e.close()
		return
	}
	e.timer = time.AfterFunc(c.idle, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if e.refs == 0 && !e.gone && c.entries[key] == e {
			delete(c.entries, key)
			e.gone = true
			e.close()
		}
	})
	c.trim()
}

// trim closes the least recently used unused entries beyond archivedKeep (c.mu held).
func (c *archivedCache) trim() {
	for len(c.entries) > archivedKeep {
		var oldKey string
		var old *archivedEntry
		for k, e := range c.entries {
			if e.refs == 0 && (old == nil || e.lastUsed.Before(old.lastUsed)) {
				oldKey, old = k, e
			}
		}
		if old == nil {
			return // all in use: they go when released
		}
		delete(c.entries, oldKey)
		old.gone = true
		if old.timer != nil {
			old.timer.Stop()
		}
		old.close()
	}
}

func (e *archivedEntry) close() {
	if e.f != nil {
		_ = e.f.Close() // an unlinked read-only temporary file: closing frees it
		e.f = nil
	}
}

// held is how many downloads are open (for tests).
func (c *archivedCache) held() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// errNotArchived is what a console without an archive answers for a recording not on disk.
var errNotArchived = errors.New("not in an archive bucket")

// openRecordingFile opens a session's recording: from this node's disk, else (not there: another
// node ran it, or it was removed after shipping) from the archive bucket, as selfPlaySession does.
func (c *Console) openRecordingFile(ctx context.Context, s store.Session) (io.Reader, int64, func(), error) {
	f, err := os.Open(s.Recording)
	if err == nil {
		st, err := f.Stat()
		if err != nil {
			_ = f.Close() // read only; the stat error is the one to report
			return nil, 0, nil, err
		}
		return f, st.Size(), func() { _ = f.Close() }, nil // read only
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, 0, nil, err
	}
	if c.archived == nil {
		return nil, 0, nil, fmt.Errorf("%w: %w", err, errNotArchived)
	}
	return c.archived.open(ctx, s)
}
