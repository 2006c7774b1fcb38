package connect

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/session"
	"gatehouse/internal/ticket"
)

func TestTargetAnswers(t *testing.T) {
	const tk = "gt1.a.b"
	for _, c := range []struct {
		name      string
		questions []string
		tkt       string
		answers   []string
		ask       []int
	}{
		{"nothing asked", nil, tk, []string{}, nil},
		{"the ticket prompt", []string{ticket.Prompt}, tk, []string{tk}, nil},
		{"a factor", []string{"Gatehouse TOTP code: "}, tk, []string{""}, []int{0}},
		{"both in one round", []string{ticket.Prompt, "Code: "}, tk, []string{tk, ""}, []int{1}},
		{"a look-alike prompt gets nothing", []string{strings.TrimSpace(ticket.Prompt), "gatehouse ticket: ", "Password: " + ticket.Prompt}, tk, []string{"", "", ""}, []int{0, 1, 2}},
		{"no ticket to give: the person is asked", []string{ticket.Prompt}, "", []string{""}, []int{0}},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, ask := TargetAnswers(c.questions, c.tkt)
			if !reflect.DeepEqual(a, c.answers) || !reflect.DeepEqual(ask, c.ask) {
				t.Fatalf("got %q %v, want %q %v", a, ask, c.answers, c.ask)
			}
		})
	}
}

func TestTargetQuestions(t *testing.T) {
	var errw bytes.Buffer
	s := &session.Session{Err: &errw}
	var asked []string
	c := &Connector{TargetPrompt: func(*session.Session) PromptFunc {
		return func(_ context.Context, _, instruction string, qs []string, _ []bool) ([]string, error) {
			asked = append(asked, instruction)
			asked = append(asked, qs...)
			out := make([]string, len(qs))
			for i := range out {
				out[i] = "123456"
			}
			return out, nil
		}
	}}
	f := c.targetQuestions(s, "gt1.a.b")
	got, err := f(context.Background(), "", "", []string{ticket.Prompt}, []bool{false})
	if err != nil || !reflect.DeepEqual(got, []string{"gt1.a.b"}) || len(asked) != 0 {
		t.Fatalf("ticket round: %q %v, asked %q", got, err, asked)
	}
	// Escape sequences from the target never reach the person's terminal.
	got, err = f(context.Background(), "", "\x1b[2Jhi", []string{"Code\x1b]0;x\x07: "}, []bool{false})
	if err != nil || !reflect.DeepEqual(got, []string{"123456"}) || !reflect.DeepEqual(asked, []string{"[2Jhi", "Code]0;x: "}) {
		t.Fatalf("factor round: %q %v, asked %q", got, err, asked)
	}
	if _, err := f(context.Background(), "", "done\x1b[0m", nil, nil); err != nil || errw.String() != "done[0m\n" {
		t.Fatalf("info round: %v %q", err, errw.String())
	}
	// A target that keeps asking is cut off.
	for range maxTargetRounds {
		_, err = f(context.Background(), "", "", []string{ticket.Prompt}, []bool{false})
	}
	if err == nil {
		t.Fatal("no limit on rounds")
	}
	// A target that asks the person something before the ticket (a password prompt where the
	// egress key was not accepted) is not relayed: the dial fails as with publickey alone.
	asked = nil
	if _, err := c.targetQuestions(s, "gt1.a.b")(context.Background(), "", "", []string{"Password: "}, []bool{false}); err == nil || len(asked) != 0 {
		t.Fatalf("a question before the ticket was relayed: %v %q", err, asked)
	}
	// The ticket and the code in one round: the code is relayed.
	if got, err := c.targetQuestions(s, "gt1.a.b")(context.Background(), "", "", []string{ticket.Prompt, "Code: "}, []bool{false, false}); err != nil || !reflect.DeepEqual(got, []string{"gt1.a.b", "123456"}) {
		t.Fatalf("one round: %q %v", got, err)
	}
	// Without a way to ask the person, the target's questions refuse the dial.
	c2 := &Connector{}
	f2 := c2.targetQuestions(s, "gt1.a.b")
	_, _ = f2(context.Background(), "", "", []string{ticket.Prompt}, []bool{false})
	if _, err := f2(context.Background(), "", "", []string{"Password: "}, []bool{false}); err == nil {
		t.Fatal("answered without a person")
	}
	// The person's prompt failing (timeout, ^C) fails the round.
	c3 := &Connector{TargetPrompt: func(*session.Session) PromptFunc {
		return func(context.Context, string, string, []string, []bool) ([]string, error) {
			return nil, errors.New("no answer in time")
		}
	}}
	if _, err := c3.targetQuestions(s, "gt1.a.b")(context.Background(), "", "", []string{ticket.Prompt, "Code: "}, []bool{false, false}); err == nil {
		t.Fatal("a failed prompt answered")
	}
}

// FuzzTargetText: what a target sends never reaches the terminal with a control byte.
func FuzzTargetText(f *testing.F) {
	f.Add("Code: ")
	f.Add("\x1b[2J\x9b2J\r\nx")
	f.Fuzz(func(t *testing.T, s string) {
		out := targetText(s)
		if len(out) > 1024 || strings.ContainsFunc(out, func(r rune) bool { return (r < 0x20 && r != '\n') || r == 0x7f || (r >= 0x80 && r < 0xa0) }) {
			t.Fatalf("%q → %q", s, out)
		}
	})
}

// notes is a writer that hands each write to the test (the notice is written by a timer).
type notes chan string

func (n notes) Write(p []byte) (int, error) { n <- string(p); return len(p), nil }

// TestQuietTarget: a target silent after its questions were answered (sshd holding back the
// module's "waiting for approval") gets the person told, once; a target that asks again in time,
// a dial that ended, or a round that failed tells nothing.
func TestQuietTarget(t *testing.T) {
	ok := func(context.Context, string, string, []string, []bool) ([]string, error) { return []string{"x"}, nil }
	fail := func(context.Context, string, string, []string, []bool) ([]string, error) {
		return nil, errors.New("no")
	}
	// Silent after a round: told once, even after more rounds.
	w := make(notes, 10)
	f, stop := quietTarget(ok, w, 10*time.Millisecond)
	f(context.Background(), "", "", nil, nil)
	select {
	case n := <-w:
		if n != TargetQuietNotice+"\n" {
			t.Fatalf("told %q", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a silent target: the person was never told")
	}
	f(context.Background(), "", "", nil, nil)
	time.Sleep(50 * time.Millisecond)
	stop()
	// The dial ends (login done) before the target was silent long: nothing.
	f, stop = quietTarget(ok, w, 50*time.Millisecond)
	f(context.Background(), "", "", nil, nil)
	stop()
	time.Sleep(120 * time.Millisecond)
	// Each new round restarts the wait: rounds closer than the limit tell nothing.
	f, stop = quietTarget(ok, w, 80*time.Millisecond)
	for range 4 {
		f(context.Background(), "", "", nil, nil)
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	time.Sleep(120 * time.Millisecond)
	// A failed round (the dial fails with it): nothing.
	f, stop = quietTarget(fail, w, 10*time.Millisecond)
	f(context.Background(), "", "", nil, nil)
	time.Sleep(60 * time.Millisecond)
	stop()
	if len(w) != 0 {
		t.Fatalf("told %d more times: %q", len(w), <-w)
	}
}
