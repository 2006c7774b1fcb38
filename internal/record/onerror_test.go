package record

import (
	"bytes"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestOnErrorReportedOnce: OnError is told of a recording's first write error once, whether the
// worker meets it (a full buffer or chunk written at once) or the timed flush does (a quiet
// session whose last output is written a second later), for every format; never for a recording
// that writes well, nor for one that reached MaxBytes (that session goes on).
func TestOnErrorReportedOnce(t *testing.T) {
	for _, format := range []Format{Gatehouse, Asciicast, Ttyrec} {
		for _, c := range []struct {
			name  string
			bytes int
			every time.Duration
		}{
			{"worker", 2 << 20, time.Hour},         // more than a chunk and a buffer: written now
			{"timed flush", 100, time.Millisecond}, // held, then flushed by the timer
		} {
			t.Run(format.String()+"/"+c.name, func(t *testing.T) {
				var calls atomic.Int32
				got := make(chan error, 10)
				rec, err := New(&failingWriter{n: 0}, Options{Format: format, FlushInterval: c.every, OnError: func(err error) {
					calls.Add(1)
					got <- err
				}})
				if err != nil {
					// New writes nothing yet (the header goes with the first flush).
					t.Fatalf("%v: %v", format, err)
				}
				rec.Output(bytes.Repeat([]byte("x"), c.bytes))
				select {
				case err := <-got:
					if !strings.Contains(err.Error(), "disk full") {
						t.Fatalf("OnError(%v)", err)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("OnError was not called")
				}
				for i := 0; i < 20; i++ {
					rec.Output(bytes.Repeat([]byte("y"), maxEventBytes))
				}
				if _, _, err := rec.Close(); err == nil {
					t.Fatal("Close reports no error")
				}
				if n := calls.Load(); n != 1 {
					t.Fatalf("OnError called %d times", n)
				}
			})
		}
	}
	for _, c := range []struct {
		name string
		max  int64
	}{{"writes well", 0}, {"past MaxBytes", 1000}} {
		t.Run(c.name, func(t *testing.T) {
			var calls atomic.Int32
			var buf bytes.Buffer
			rec, err := New(&buf, Options{Format: Gatehouse, FlushInterval: time.Millisecond, MaxBytes: c.max, OnError: func(error) { calls.Add(1) }})
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 50; i++ {
				rec.Output(bytes.Repeat([]byte("z"), 10000))
			}
			if _, _, err := rec.Close(); err != nil {
				t.Fatal(err)
			}
			if n := calls.Load(); n != 0 {
				t.Fatalf("OnError called %d times", n)
			}
		})
	}
}
