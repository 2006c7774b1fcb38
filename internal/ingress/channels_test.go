package ingress

import (
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/crypto/ssh"

	"gatehouse/internal/config"
)

// fakeNewChannel records a refusal; nothing else of it is used by channels.
type fakeNewChannel struct {
	ssh.NewChannel
	rejected ssh.RejectionReason
}

func (f *fakeNewChannel) Reject(r ssh.RejectionReason, _ string) error {
	f.rejected = r
	return nil
}

type closeCounter struct{ n atomic.Int32 }

func (c *closeCounter) Close() error { c.n.Add(1); return nil }

// TestChannelsBoundAndPanic: one connection runs at most MaxSessions channels at once (the next
// is refused with ResourceShortage, and accepted again once one ends); a channel's panic closes
// the whole connection and is reported, and wait returns once every channel has ended.
func TestChannelsBoundAndPanic(t *testing.T) {
	cfg := config.Default()
	max := cfg.MaxSessions
	s := New(authEnv{}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	var panics atomic.Int32
	s.OnPanic = func(string, any, []byte) { panics.Add(1) }
	conn := &closeCounter{}
	cs := s.channels(conn, "alice", nil)

	release := make(chan struct{})
	var started sync.WaitGroup
	started.Add(max)
	for range max {
		cs.start(&fakeNewChannel{}, func() { started.Done(); <-release })
	}
	started.Wait()
	over := &fakeNewChannel{}
	cs.start(over, func() { t.Error("a channel past MaxSessions ran") })
	if over.rejected != ssh.ResourceShortage {
		t.Fatalf("channel %d: rejected %v, want ResourceShortage", max+1, over.rejected)
	}
	close(release)
	cs.wait()

	done := make(chan struct{})
	cs.start(&fakeNewChannel{}, func() { defer close(done); panic("channel fault") })
	cs.wait()
	<-done
	if conn.n.Load() != 1 || panics.Load() != 1 {
		t.Fatalf("after a channel's panic: connection closed %d times, %d panics reported; want 1 and 1", conn.n.Load(), panics.Load())
	}
}
