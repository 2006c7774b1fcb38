package record

import (
	"bytes"
	crand "crypto/rand"
	"strings"
	"sync/atomic"
	"testing"
)

// TestMaxBytes: a recording stops at its cap with a marker, once, whatever keeps coming; the
// file passes the cap by at most one event and the marker.
func TestMaxBytes(t *testing.T) {
	const limit = 100 << 10
	for _, format := range []Format{Asciicast, Ttyrec, Gatehouse} {
		t.Run(format.String(), func(t *testing.T) {
			var buf bytes.Buffer
			var hits atomic.Int32
			rec, err := New(&buf, Options{Format: format, MaxBytes: limit, OnLimit: func() { hits.Add(1) }})
			if err != nil {
				t.Fatal(err)
			}
			chunk := []byte(strings.Repeat("\x01", 1000)) // escaped six-fold in asciicast: the worst case
			if format == Gatehouse {
				// The cap counts the compressed file: random bytes are its worst case.
				chunk = make([]byte, 1000)
				crand.Read(chunk)
			}
			for i := 0; i < 5000; i++ {
				rec.Output(chunk)
				if i%100 == 0 {
					rec.Resize(80+i%7, 24)
				}
			}
			rec.Output([]byte("LAST-WORDS"))
			_, size, err := rec.Close()
			if err != nil {
				t.Fatal(err)
			}
			if size < limit || size > limit+6*maxEventBytes+1024 {
				t.Fatalf("size %d, want within one event past %d", size, limit)
			}
			if int64(buf.Len()) != size {
				t.Fatalf("Close says %d bytes, the writer got %d", size, buf.Len())
			}
			if hits.Load() != 1 {
				t.Fatalf("OnLimit called %d times, want 1", hits.Load())
			}
			_, evs := readAll(t, &buf)
			all := string(outputOf(evs, KindOutput)) + string(outputOf(evs, KindMarker))
			if strings.Count(all, LimitMarker) != 1 || strings.Contains(all, "LAST-WORDS") {
				t.Fatalf("%d markers, last output recorded: %v", strings.Count(all, LimitMarker), strings.Contains(all, "LAST-WORDS"))
			}
		})
	}
	// Under the cap nothing changes.
	var buf bytes.Buffer
	rec, _ := New(&buf, Options{MaxBytes: limit, OnLimit: func() { t.Error("OnLimit under the cap") }})
	rec.Output([]byte("small"))
	rec.Close()
	if strings.Contains(buf.String(), LimitMarker) {
		t.Fatal("marker under the cap")
	}
}
