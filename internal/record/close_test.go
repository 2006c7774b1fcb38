package record

import (
	"bytes"
	"testing"
	"time"
)

// TestCloseWhileWorkerIdles: Close holds the recorder's mutex while it waits for the worker; a
// worker whose idle timer fired at that moment waited for the same mutex, and Close never
// returned (gatehouse then never stopped: TestIdleKill, where a relay's 2 s close grace met the
// worker's 2 s idle). With the idle time at zero, the timer fires with every first event.
func TestCloseWhileWorkerIdles(t *testing.T) {
	deadline := time.After(20 * time.Second)
	for i := range 2000 {
		var buf bytes.Buffer
		rec, err := New(&buf, Options{Format: Asciicast, Term: "xterm", Now: newFakeClock().Now})
		if err != nil {
			t.Fatal(err)
		}
		rec.(*recorder).idle = 0
		rec.Output([]byte("last words"))
		closed := make(chan struct{})
		go func() {
			defer close(closed)
			_, _, _ = rec.Close()
		}()
		select {
		case <-closed:
		case <-deadline:
			t.Fatalf("Close never returned (iteration %d): the worker and Close wait for each other", i)
		}
	}
}
