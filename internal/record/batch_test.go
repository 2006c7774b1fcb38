package record

import (
	"bytes"
	"sync"
	"testing"
	"time"
)

// TestBatchKeepsEveryOutputsTimeAndOrder: outputs gathered in one batch (they come faster than
// batchDelay) come back as events of their own, each at its time, with a resize between them
// and input kept in order, in every format; a batch larger than batchBytes splits without
// losing a byte.
func TestBatchKeepsEveryOutputsTimeAndOrder(t *testing.T) {
	for _, format := range []Format{Gatehouse, Asciicast} {
		t.Run(format.String(), func(t *testing.T) {
			clk := newFakeClock()
			var buf bytes.Buffer
			rec, err := New(&buf, Options{Format: format, RecordInput: true, Now: clk.Now})
			if err != nil {
				t.Fatal(err)
			}
			big := bytes.Repeat([]byte("0123456789abcdef"), (batchBytes+batchBytes/2)/16)
			steps := []struct {
				out, in    string
				cols, rows int
			}{{out: "a"}, {out: "bc"}, {in: "x"}, {out: "d"}, {cols: 100, rows: 30}, {out: "e"}, {out: string(big)}, {out: "f"}}
			var wantTimes []time.Duration
			for _, s := range steps {
				clk.Advance(1500 * time.Microsecond)
				switch {
				case s.cols > 0:
					rec.Resize(s.cols, s.rows)
				case s.in != "":
					rec.Input([]byte(s.in))
				default:
					rec.Output([]byte(s.out))
				}
				wantTimes = append(wantTimes, time.Duration(len(wantTimes)+1)*1500*time.Microsecond)
			}
			if _, _, err := rec.Close(); err != nil {
				t.Fatal(err)
			}
			_, evs := readAll(t, bytes.NewReader(buf.Bytes()))
			var kinds []EventKind
			var times []time.Duration
			for _, ev := range evs {
				if ev.Kind == KindMarker {
					continue
				}
				if n := len(kinds); n > 0 && ev.Kind == KindOutput && kinds[n-1] == KindOutput && ev.Time == times[n-1] {
					continue // one Output cut into several events (maxEventBytes)
				}
				kinds, times = append(kinds, ev.Kind), append(times, ev.Time)
			}
			wantKinds := []EventKind{KindOutput, KindOutput, KindInput, KindOutput, KindResize, KindOutput, KindOutput, KindOutput}
			if len(kinds) != len(wantKinds) {
				t.Fatalf("events %v, want %v", kinds, wantKinds)
			}
			for i := range kinds {
				if kinds[i] != wantKinds[i] || times[i].Round(time.Millisecond/2) != wantTimes[i].Round(time.Millisecond/2) {
					t.Fatalf("event %d: %v at %v, want %v at %v", i, kinds[i], times[i], wantKinds[i], wantTimes[i])
				}
			}
			if got, want := string(outputOf(evs, KindOutput)), "abcde"+string(big)+"f"; got != want {
				t.Fatalf("output %d bytes, want %d", len(got), len(want))
			}
		})
	}
}

// TestBatchReachesTheFileAlone: a lone output (a prompt) is handed to the worker by the batch
// timer, without another output or Close, and reaches the writer with the next flush.
func TestBatchReachesTheFileAlone(t *testing.T) {
	w := &lockedBuffer{}
	rec, err := New(w, Options{Format: Asciicast, FlushInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Close()
	rec.Output([]byte("prompt$ "))
	deadline := time.Now().Add(10 * time.Second)
	for !bytes.Contains(w.Bytes(), []byte("prompt$ ")) {
		if time.Now().After(deadline) {
			t.Fatal("a lone output never reached the writer")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) Bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Clone(l.b.Bytes())
}
