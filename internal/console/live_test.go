package console

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"gatehouse/internal/ingress"
	"gatehouse/internal/session"
	"gatehouse/internal/store"
)

type fakeTracker struct{ paused *bool }

type fakeTrack struct{ paused *bool }

func (fakeTrack) ID() string                                                  { return "sess1" }
func (fakeTrack) Recorder() io.Writer                                         { return io.Discard }
func (t fakeTrack) Pause(p bool)                                              { *t.paused = p }
func (fakeTrack) Resize(int, int)                                             {}
func (fakeTrack) End(context.Context, *session.Session, session.Outcome, int) {}

func (f fakeTracker) Begin(context.Context, *session.Session, session.Line) (ingress.SessionTrack, error) {
	return fakeTrack(f), nil
}

// begin wires a track into the session as ingress does (lifecycle.go): the id, the pause, and
// the recorder beside the user's streams.
func begin(t *testing.T, l *Live, s *session.Session) ingress.SessionTrack {
	t.Helper()
	tr, err := l.Begin(context.Background(), s, session.Line{Raw: "host"})
	if err != nil {
		t.Fatal(err)
	}
	s.ID, s.PauseRecording = tr.ID(), tr.Pause
	rec := tr.Recorder()
	s.Out, s.Err = io.MultiWriter(s.Out, rec), io.MultiWriter(s.Err, rec)
	return tr
}

func TestLiveTeeNeverBlocksAndHidesWhatIsNotRecorded(t *testing.T) {
	var paused bool
	l := &Live{Inner: fakeTracker{&paused}}
	var user, tell bytes.Buffer
	s := &session.Session{Account: store.Account{ID: "id-alice", Name: "alice"}, Out: &user, Err: &tell}
	tr := begin(t, l, s)
	owner, ch, _, cancel, ok := l.watch("sess1")
	if !ok || owner != "id-alice" {
		t.Fatalf("watch: %v %q", ok, owner)
	}
	defer cancel()
	io.WriteString(s.Out, "visible")
	s.PauseRecording(true)
	io.WriteString(s.Out, "SECRET")
	if !paused {
		t.Fatal("the recording was not paused")
	}
	s.PauseRecording(false)
	io.WriteString(s.Out, "after")
	if got := string(<-ch) + string(<-ch); got != "visibleafter" {
		t.Fatalf("watcher got %q", got)
	}
	// A watcher that never reads: the session writes on without waiting.
	done := make(chan struct{})
	go func() {
		for i := 0; i < 10000; i++ {
			io.WriteString(s.Out, "x")
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a slow watcher blocked the session")
	}
	if user.Len() != len("visibleSECRETafter")+10000 {
		t.Fatalf("the user got %d bytes", user.Len())
	}
	tr.End(context.Background(), s, session.Outcome{}, 0)
	for range ch { // drained, then closed by the end of the session
	}
	if _, _, _, _, ok := l.watch("sess1"); ok {
		t.Fatal("an ended session can be watched")
	}
}
