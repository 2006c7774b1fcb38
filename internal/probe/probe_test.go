package probe

import (
	"context"
	"errors"
	"net"
	"reflect"
	"testing"
	"time"
)

// fakeClock is a clock that Sleep moves forward: the wait loops are tested without waiting.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }
func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.now = c.now.Add(d)
	return nil
}

func TestWaiter(t *testing.T) {
	for _, tc := range []struct {
		name       string
		answersAt  int // the probe that first succeeds (0: never)
		max, every int
		wantWaited int
		wantErr    error
		wantProg   []time.Duration
	}{
		{"at once", 1, 0, 5, 0, nil, nil},
		{"after 12 probes", 12, 3600, 5, 11, nil, []time.Duration{5 * time.Second, 10 * time.Second}},
		{"never, bounded", 0, 4, 0, 4, ErrNeverAnswered, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := &fakeClock{now: time.Unix(1000, 0)}
			n := 0
			var prog []time.Duration
			w := Waiter{Now: clk.Now, Sleep: clk.Sleep, Max: tc.max, Every: tc.every,
				Probe:    func(context.Context) bool { n++; return n == tc.answersAt },
				Progress: func(d time.Duration) { prog = append(prog, d) }}
			waited, err := w.Wait(context.Background())
			if waited != tc.wantWaited || !errors.Is(err, tc.wantErr) || !reflect.DeepEqual(prog, tc.wantProg) {
				t.Errorf("waited %d err %v progress %v; want %d %v %v", waited, err, prog, tc.wantWaited, tc.wantErr, tc.wantProg)
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	clk := &fakeClock{now: time.Unix(0, 0)}
	if _, err := (Waiter{Now: clk.Now, Sleep: clk.Sleep, Probe: func(context.Context) bool { return false }}).Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("a cancelled wait returned %v", err)
	}
}

func TestTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if !TCP(ln.Addr().String())(context.Background()) {
		t.Error("a listening port does not answer")
	}
	cl, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := cl.Addr().String()
	cl.Close()
	if TCP(addr)(context.Background()) {
		t.Error("a closed port answers")
	}
}
