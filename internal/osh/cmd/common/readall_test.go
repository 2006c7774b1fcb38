package common

import (
	"errors"
	"strings"
	"testing"

	"gatehouse/internal/osh"
)

// TestReadAllInputTable: from a pipe, everything to the end (bounded); on a terminal, up to ^D
// (CR as LF), ^C aborts, and nothing after ^D is taken (it is the next prompt's).
func TestReadAllInputTable(t *testing.T) {
	for _, tc := range []struct {
		pty        bool
		in         string
		want, left string
		err        error
	}{
		{false, "a\nb\n", "a\nb\n", "", nil},
		{false, "a\x04b\x03c\r", "a\x04b\x03c\r", "", nil},
		{true, "a\rb\x04next", "a\nb", "next", nil},
		{true, "a\nb", "a\nb", "", nil}, // the end of input still ends it
		{true, "a\x03b\x04", "", "b\x04", ErrInputAborted},
		{true, "\x04", "", "", nil},
		{false, strings.Repeat("x", 20), strings.Repeat("x", 11), strings.Repeat("x", 9), nil},
		{true, strings.Repeat("x", 20), strings.Repeat("x", 11), strings.Repeat("x", 9), nil},
	} {
		r := strings.NewReader(tc.in)
		c := &osh.Call{Sess: &osh.Session{}}
		c.Sess.In, c.Sess.PTY = r, tc.pty
		got, err := ReadAllInput(c, 10)
		left := tc.in[len(tc.in)-r.Len():]
		if string(got) != tc.want || !errors.Is(err, tc.err) || left != tc.left {
			t.Errorf("pty %v %q: got %q, %v, left %q; want %q, %v, left %q", tc.pty, tc.in, got, err, left, tc.want, tc.err, tc.left)
		}
	}
}

// FuzzReadAllInput: whatever a user types or pipes, the read never takes more than limit+1
// bytes, never panics, and on a terminal gives no CR and nothing from ^D on.
func FuzzReadAllInput(f *testing.F) {
	for _, s := range []string{"a\rb\x04next", "a\x03b", "", strings.Repeat("x", 40), "\x04\x03\r\n"} {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, in string, pty bool) {
		const limit = 16
		r := strings.NewReader(in)
		c := &osh.Call{Sess: &osh.Session{}}
		c.Sess.In, c.Sess.PTY = r, pty
		got, err := ReadAllInput(c, limit)
		taken := len(in) - r.Len()
		if taken > limit+1 || len(got) > limit+1 {
			t.Fatalf("took %d bytes, gave %d, past the limit %d", taken, len(got), limit)
		}
		if err != nil && !errors.Is(err, ErrInputAborted) {
			t.Fatalf("error from a string reader: %v", err)
		}
		if !pty {
			if string(got) != in[:taken] {
				t.Fatalf("a pipe's bytes changed: %q from %q", got, in[:taken])
			}
			return
		}
		if strings.ContainsAny(string(got), "\r\x04") {
			t.Fatalf("a terminal's input kept a CR or ^D: %q", got)
		}
		if errors.Is(err, ErrInputAborted) && got != nil {
			t.Fatalf("an aborted input gave bytes: %q", got)
		}
	})
}
