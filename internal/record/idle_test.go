package record

import (
	"bytes"
	"testing"
	"time"
)

// An idle recording holds no event buffers: when its worker exits after workerIdle without
// events, the buffers it kept for the next events are let go (a bastion holds thousands of
// idle sessions), and the next output still records.
func TestIdleRecorderHoldsNoEventBuffers(t *testing.T) {
	for _, f := range []Format{Gatehouse, Asciicast, Ttyrec} {
		var buf bytes.Buffer
		rec, err := New(&buf, Options{Format: f, Term: "xterm", Now: newFakeClock().Now})
		if err != nil {
			t.Fatal(err)
		}
		r := rec.(*recorder)
		r.idle = 10 * time.Millisecond
		for range 5 {
			rec.Output([]byte("a prompt$ "))
		}
		idleNow := func() bool {
			r.mu.Lock()
			defer r.mu.Unlock()
			return !r.running
		}
		deadline := time.Now().Add(10 * time.Second)
		for !idleNow() {
			if time.Now().After(deadline) {
				t.Fatalf("format %d: the worker did not go idle", f)
			}
			time.Sleep(5 * time.Millisecond)
		}
		r.mu.Lock()
		held := len(r.free)
		r.mu.Unlock()
		if held != 0 {
			t.Fatalf("format %d: %d event buffers held by an idle recording, want 0", f, held)
		}
		rec.Output([]byte("more"))
		if _, _, err := rec.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
