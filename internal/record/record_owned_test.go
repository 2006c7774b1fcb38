package record

import (
	"bytes"
	crand "crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestOutputOwnedRoundTrip drives a recorder as egress's relay does: reads of every size into
// 256 KiB buffers handed over with OutputOwned, each buffer given back scribbled over before
// it is filled again (a buffer given back while the worker still read it would put the scribble
// in the recording), small outputs and resizes in between. The recording replays exactly the
// bytes given (asciicast: text), in every format and with or without a deferral budget; the gatehouse file's
// random chunks are stored as is (batches hashed as they were built), and its SHA-256 and size
// are the file's (sha256sum).
func TestOutputOwnedRoundTrip(t *testing.T) {
	random := make([]byte, 6<<20)
	crand.Read(random)
	text := relayLog(2 << 20)
	for _, c := range []struct {
		format Format
		defer_ bool
	}{{Gatehouse, false}, {Gatehouse, true}, {Asciicast, false}, {Ttyrec, false}} {
		t.Run(fmt.Sprintf("%s/defer=%v", c.format, c.defer_), func(t *testing.T) {
			dir := t.TempDir()
			opts := Options{Format: c.format}
			if c.defer_ {
				opts.Defer = bigBudget()
			}
			rec, path, err := Create(filepath.Join(dir, "rec"), "a."+c.format.Ext(), opts)
			if err != nil {
				t.Fatal(err)
			}
			ow := rec.(*recorder)
			var want []byte
			buf := make([]byte, 256<<10)
			sizes := []int{256 << 10, 100 << 10, 5, 256 << 10, 64 << 10, 200 << 10, 1, 256 << 10}
			i := 0
			parts := [][]byte{random[:3<<20], text, random[3<<20:]}
			if c.format == Asciicast {
				parts = [][]byte{text, text} // it keeps valid UTF-8 only (binary becomes U+FFFD)
			}
			for _, data := range parts {
				for len(data) > 0 {
					n := min(sizes[i%len(sizes)], len(data))
					i++
					copy(buf, data[:n])
					want = append(want, data[:n]...)
					next := ow.OutputOwned(buf[:n])
					if next == nil {
						next = make([]byte, 256<<10)
					}
					for j := range next {
						next[j] = 0xAA // the caller's now: a worker still reading it would record this
					}
					buf = next[:cap(next)]
					data = data[n:]
					if i%7 == 0 {
						rec.Resize(80+i%3, 24)
					}
				}
			}
			sum, size, err := rec.Close()
			if err != nil {
				t.Fatal(err)
			}
			if wantSum, n := sumOf(t, path); sum != wantSum || size != n {
				t.Fatalf("Close gave %s (%d bytes), the file is %s (%d bytes)", sum, size, wantSum, n)
			}
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			_, evs := readAll(t, f)
			if got := outputOf(evs, KindOutput); !bytes.Equal(got, want) {
				t.Fatalf("replayed %d bytes, want the %d given (first difference at %d)", len(got), len(want), firstDiff(got, want))
			}
			if c.format == Gatehouse {
				file, _ := os.ReadFile(path)
				if _, _, asIs := chunkKinds(t, file); asIs < 20 {
					t.Fatalf("%d chunks stored as is, want the random output's batches", asIs)
				}
			}
		})
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestOwnedBuffersBoundedAndDroppedWhenIdle: a recorder holds at most maxOwned of the buffers
// OutputOwned took while output streams, and none once its worker goes idle.
func TestOwnedBuffersBoundedAndDroppedWhenIdle(t *testing.T) {
	var out bytes.Buffer
	rec, err := New(&out, Options{Format: Gatehouse, Now: newFakeClock().Now})
	if err != nil {
		t.Fatal(err)
	}
	r := rec.(*recorder)
	r.idle = 10 * time.Millisecond
	for range 50 {
		r.OutputOwned(make([]byte, 256<<10))
		r.mu.Lock()
		n := r.owned
		r.mu.Unlock()
		if n > maxOwned {
			t.Fatalf("%d buffers held, want at most %d", n, maxOwned)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.mu.Lock()
		idle, spare := !r.running, r.owned
		r.mu.Unlock()
		if idle {
			if spare != 0 {
				t.Fatalf("an idle recording holds %d spare buffers, want 0", spare)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the worker did not go idle")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, _, err := rec.Close(); err != nil {
		t.Fatal(err)
	}
}
