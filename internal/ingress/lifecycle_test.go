package ingress

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
)

// failingRecorder takes up to room bytes, then fails every write (a full disk).
type failingRecorder struct {
	room int
	got  bytes.Buffer
}

func (f *failingRecorder) Write(p []byte) (int, error) {
	if len(p) > f.room {
		return 0, errors.New("no space left on device")
	}
	f.room -= len(p)
	return f.got.Write(p)
}

// TestRecordFirst: the session's writers give each write to the recorder before the user; a
// recorder that fails fails the write, and the user receives nothing beyond what was recorded
// (was: the user's copy first, so the write on which the recording failed reached the user
// unrecorded). Through the terminal's CR-before-LF writer too.
func TestRecordFirst(t *testing.T) {
	for _, pty := range []bool{false, true} {
		for room := 0; room <= 40; room += 7 {
			t.Run(fmt.Sprintf("pty=%v/room=%d", pty, room), func(t *testing.T) {
				rec := &failingRecorder{room: room}
				var user bytes.Buffer
				var recW io.Writer = rec
				var userW io.Writer = &user
				if pty {
					recW, userW = &crlfWriter{w: rec}, &crlfWriter{w: &user}
				}
				w := recordFirst(recW, userW)
				var failed bool
				for i := range 10 {
					if _, err := fmt.Fprintf(w, "line %d\n", i); err != nil {
						failed = true
						break
					}
				}
				if !bytes.Equal(user.Bytes(), rec.got.Bytes()) {
					t.Fatalf("the user got %q, the recording holds %q", user.Bytes(), rec.got.Bytes())
				}
				if wantFail := room < 10*len("line 0\n")+10*b2i(pty); failed != wantFail {
					t.Fatalf("failed=%v, want %v", failed, wantFail)
				}
			})
		}
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
