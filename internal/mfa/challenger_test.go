package mfa

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/term"

	"gatehouse/internal/mfa/limit"
	"gatehouse/internal/mfa/password"
	"gatehouse/internal/mfa/policy"
	"gatehouse/internal/mfa/totp"
)

var fastParams = password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

const secretPassword = "]BkL>3x#T)g~~B#rLv^!T2&N"

// rig is a Challenger over in-memory stores with a fixed clock.
type rig struct {
	c       *Challenger
	steps   *totp.MemStepStore
	scratch *totp.MemScratchStore
	events  []Event
	mu      sync.Mutex
	now     time.Time
	cred    Credentials
	codes   []string
}

func newRig(t *testing.T) *rig {
	t.Helper()
	r := &rig{steps: &totp.MemStepStore{}, scratch: &totp.MemScratchStore{}, now: time.Date(2023, 8, 2, 15, 0, 0, 0, time.UTC)}
	clock := func() time.Time { return r.now }
	hasher := totp.ScratchHasher{Key: []byte("scratch-key-for-tests")}
	r.c = &Challenger{
		TOTP:           &totp.Verifier{Steps: r.steps, Now: clock},
		Scratch:        totp.Scratch{Hasher: hasher, Store: r.scratch},
		Limiter:        &limit.Limiter{Store: &limit.MemStore{}, Limits: limit.Limits{Attempts: 3, Window: 30 * time.Second, LockAfter: 6}, Now: clock},
		Aging:          password.DefaultAging,
		PasswordParams: fastParams,
		Observer: ObserverFunc(func(_ context.Context, e Event) {
			r.mu.Lock()
			r.events = append(r.events, e)
			r.mu.Unlock()
		}),
		Now: clock,
	}
	h, err := password.Hash(secretPassword, fastParams)
	if err != nil {
		t.Fatal(err)
	}
	secret, _ := totp.NewSecret()
	codes, _ := totp.NewScratchCodes(5)
	hashes, _ := r.c.Scratch.HashAll("johndoe", codes)
	r.scratch.Set("johndoe", hashes)
	r.codes = codes
	r.cred = Credentials{Account: "johndoe", PasswordHash: h, PasswordChanged: r.now, TOTP: &totp.Key{Secret: secret}}
	return r
}

func (r *rig) code(t *testing.T) string {
	c, err := totp.Code(*r.cred.TOTP, r.now)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

type call struct{ instruction, question string }

// script answers prompts from a list and records what was asked.
type script struct {
	answers []string
	calls   []call
	err     error // returned once the answers run out
}

func (s *script) prompt(_ context.Context, _, instruction string, questions []string, echos []bool) ([]string, error) {
	if len(questions) != 1 || len(echos) != 1 || echos[0] {
		return nil, fmt.Errorf("unexpected questions %q echos %v", questions, echos)
	}
	s.calls = append(s.calls, call{instruction, questions[0]})
	if len(s.answers) == 0 {
		if s.err != nil {
			return nil, s.err
		}
		return nil, io.EOF
	}
	a := s.answers[0]
	s.answers = s.answers[1:]
	return []string{a}, nil
}

func kindOf(err error) (ErrorKind, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind, true
	}
	return 0, false
}

func TestChallengePasswordAndTOTP(t *testing.T) {
	r := newRig(t)
	s := &script{answers: []string{secretPassword, r.code(t)}}
	res, err := r.c.Challenge(context.Background(), s.prompt, r.cred, policy.Password|policy.TOTP)
	if err != nil {
		t.Fatal(err)
	}
	if res.Passed != policy.Password|policy.TOTP || res.ScratchUsed || res.PasswordExpired || res.RehashedPassword != "" {
		t.Fatalf("result %+v", res)
	}
	want := []call{
		{"Your account has Multi-Factor Authentication enabled, an additional authentication factor is required (password).\nYour password expires on 2023/10/31, in 89 days", "Password: "},
		{"Your account has Multi-Factor Authentication enabled, an additional authentication factor is required (OTP).", "Verification code: "},
	}
	if fmt.Sprint(s.calls) != fmt.Sprint(want) {
		t.Fatalf("asked\n%q\nwant\n%q", s.calls, want)
	}
	for _, e := range r.events {
		if strings.Contains(fmt.Sprint(e), secretPassword) {
			t.Fatal("an event contains the password")
		}
	}
}

func TestChallengeThreeWrongThenFailed(t *testing.T) {
	r := newRig(t)
	s := &script{answers: []string{"bad1", "bad2", "bad3", secretPassword}}
	_, err := r.c.Challenge(context.Background(), s.prompt, r.cred, policy.Password)
	if k, ok := kindOf(err); !ok || k != KindFailed {
		t.Fatalf("err %v, want KindFailed", err)
	}
	if len(s.calls) != 3 {
		t.Fatalf("%d prompts, want 3", len(s.calls))
	}
	ref := err.(*Error).Refusal()
	if ref.Exit != 125 || ref.Code != "KO_MFA_FAILED" {
		t.Fatalf("refusal %+v", ref)
	}
	var fails int
	for _, e := range r.events {
		if e.Kind == EventFail {
			fails++
		}
		for _, bad := range []string{"bad1", "bad2", "bad3"} {
			if strings.Contains(fmt.Sprint(e), bad) {
				t.Fatal("an event contains an answer")
			}
		}
	}
	if fails != 3 {
		t.Fatalf("%d fail events, want 3", fails)
	}
}

func TestChallengeRetryAfterWrongTOTPRestartsAtPassword(t *testing.T) {
	r := newRig(t)
	s := &script{answers: []string{secretPassword, "000000", secretPassword, r.code(t)}}
	if _, err := r.c.Challenge(context.Background(), s.prompt, r.cred, policy.Password|policy.TOTP); err != nil {
		t.Fatal(err)
	}
	if len(s.calls) != 4 || s.calls[2].question != policy.PasswordPrompt {
		t.Fatalf("calls %q", s.calls)
	}
}

func TestChallengeReplayAndScratch(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	code := r.code(t)
	if _, err := r.c.Challenge(ctx, (&script{answers: []string{code}}).prompt, r.cred, policy.TOTP); err != nil {
		t.Fatal(err)
	}
	// Same code again, in a later connection: refused (each round), then failed.
	r.now = r.now.Add(40 * time.Second) // out of the rate limit window; still inside the skew window
	_, err := r.c.Challenge(ctx, (&script{answers: []string{code, code, code}}).prompt, r.cred, policy.TOTP)
	if k, _ := kindOf(err); k != KindFailed {
		t.Fatalf("replayed code: %v", err)
	}
	if last := r.events[len(r.events)-1]; last.Reason != "code already used" {
		t.Fatalf("last event %+v", last)
	}

	// A scratch code works once.
	r.now = r.now.Add(40 * time.Second)
	res, err := r.c.Challenge(ctx, (&script{answers: []string{r.codes[0]}}).prompt, r.cred, policy.TOTP)
	if err != nil || !res.ScratchUsed {
		t.Fatalf("scratch code: %+v, %v", res, err)
	}
	r.now = r.now.Add(40 * time.Second)
	_, err = r.c.Challenge(ctx, (&script{answers: []string{r.codes[0]}}).prompt, r.cred, policy.TOTP)
	if k, _ := kindOf(err); k != KindAborted { // refused, re-prompted, then the script ran out
		t.Fatalf("scratch code reused: %v", err)
	}
}

func TestChallengeRateLimitAndLockout(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	s := &script{answers: []string{"000000", "000001", "000002"}}
	if _, err := r.c.Challenge(ctx, s.prompt, r.cred, policy.TOTP); err == nil {
		t.Fatal("wrong codes passed")
	}
	// A fourth try within 30 s is refused before anything is asked, even with the right code.
	s = &script{answers: []string{r.code(t)}}
	_, err := r.c.Challenge(ctx, s.prompt, r.cred, policy.TOTP)
	if k, _ := kindOf(err); k != KindRateLimited || len(s.calls) != 0 {
		t.Fatalf("err %v after %d prompts, want KindRateLimited before any", err, len(s.calls))
	}
	// Three more failures later: locked (LockAfter 6), even after a day.
	r.now = r.now.Add(time.Minute)
	_, _ = r.c.Challenge(ctx, (&script{answers: []string{"000003", "000004", "000005"}}).prompt, r.cred, policy.TOTP)
	r.now = r.now.Add(24 * time.Hour)
	s = &script{answers: []string{r.code(t)}}
	_, err = r.c.Challenge(ctx, s.prompt, r.cred, policy.TOTP)
	if k, _ := kindOf(err); k != KindLocked || len(s.calls) != 0 {
		t.Fatalf("err %v, want KindLocked", err)
	}
	if !strings.Contains(err.(*Error).Refusal().Message, "accountUnlock") {
		t.Fatal("lockout message does not say how to unlock")
	}
	// The password is throttled separately and still works.
	if _, err := r.c.Challenge(ctx, (&script{answers: []string{secretPassword}}).prompt, r.cred, policy.Password); err != nil {
		t.Fatalf("password after TOTP lockout: %v", err)
	}
	if err := r.c.Limiter.Unlock(ctx, "johndoe"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.c.Challenge(ctx, (&script{answers: []string{r.code(t)}}).prompt, r.cred, policy.TOTP); err != nil {
		t.Fatalf("after accountUnlock: %v", err)
	}
}

func TestChallengeFailsClosed(t *testing.T) {
	ctx := context.Background()
	t.Run("10 kB answer", func(t *testing.T) {
		r := newRig(t)
		s := &script{answers: []string{strings.Repeat("9", 10<<10), secretPassword}}
		_, err := r.c.Challenge(ctx, s.prompt, r.cred, policy.Password)
		if k, _ := kindOf(err); k != KindAnswerTooLong || len(s.calls) != 1 {
			t.Fatalf("err %v after %d prompts", err, len(s.calls))
		}
	})
	t.Run("client disconnects during the prompt", func(t *testing.T) {
		r := newRig(t)
		s := &script{err: errors.New("ssh: disconnect")}
		_, err := r.c.Challenge(ctx, s.prompt, r.cred, policy.Password|policy.TOTP)
		if k, _ := kindOf(err); k != KindAborted {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("context ended", func(t *testing.T) {
		r := newRig(t)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		s := &script{answers: []string{secretPassword}}
		_, err := r.c.Challenge(cctx, s.prompt, r.cred, policy.Password)
		if k, _ := kindOf(err); k != KindAborted || len(s.calls) != 0 {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("two answers to one question", func(t *testing.T) {
		r := newRig(t)
		p := func(context.Context, string, string, []string, []bool) ([]string, error) {
			return []string{secretPassword, secretPassword}, nil
		}
		if _, err := r.c.Challenge(ctx, p, r.cred, policy.Password); err == nil {
			t.Fatal("accepted")
		}
	})
	t.Run("malformed stored hash", func(t *testing.T) {
		r := newRig(t)
		r.cred.PasswordHash = "$argon2id$garbage"
		_, err := r.c.Challenge(ctx, (&script{answers: []string{secretPassword}}).prompt, r.cred, policy.Password)
		if k, _ := kindOf(err); k != KindInternal {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("no password set", func(t *testing.T) {
		r := newRig(t)
		r.cred.PasswordHash = ""
		if _, err := r.c.Challenge(ctx, (&script{answers: []string{""}}).prompt, r.cred, policy.Password); err == nil {
			t.Fatal("accepted")
		}
	})
	t.Run("nothing to ask", func(t *testing.T) {
		r := newRig(t)
		if _, err := r.c.Challenge(ctx, (&script{}).prompt, r.cred, 0); err == nil {
			t.Fatal("an empty challenge passed")
		}
	})
	t.Run("rate limit store down", func(t *testing.T) {
		r := newRig(t)
		r.c.Limiter.Store = downStore{}
		s := &script{answers: []string{secretPassword}}
		if _, err := r.c.Challenge(ctx, s.prompt, r.cred, policy.Password); err == nil || len(s.calls) != 0 {
			t.Fatalf("err %v after %d prompts", err, len(s.calls))
		}
	})
}

type downStore struct{}

func (downStore) Update(context.Context, string, string, func(*limit.State) error) error {
	return errors.New("db down")
}
func (downStore) Reset(context.Context, string) error { return errors.New("db down") }

func TestChallengePasswordAgeing(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	r.now = r.now.AddDate(0, 4, 0) // past MaxDays 90
	res, err := r.c.Challenge(ctx, (&script{answers: []string{secretPassword}}).prompt, r.cred, policy.Password)
	if err != nil || !res.PasswordExpired {
		t.Fatalf("expired password: %+v, %v", res, err)
	}
	r.c.Aging.InactiveDays = 10
	s := &script{answers: []string{secretPassword}}
	_, err = r.c.Challenge(ctx, s.prompt, r.cred, policy.Password)
	if k, _ := kindOf(err); k != KindPasswordBlocked || len(s.calls) != 0 {
		t.Fatalf("blocked: %v", err)
	}
}

func TestChallengeRehash(t *testing.T) {
	r := newRig(t)
	r.c.PasswordParams = password.Params{Memory: 128, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
	res, err := r.c.Challenge(context.Background(), (&script{answers: []string{secretPassword}}).prompt, r.cred, policy.Password)
	if err != nil || res.RehashedPassword == "" {
		t.Fatalf("%+v, %v", res, err)
	}
	if ok, _ := password.Verify(secretPassword, res.RehashedPassword); !ok || !strings.Contains(res.RehashedPassword, "m=128,") {
		t.Fatal("rehash does not verify or kept the old parameters")
	}
}

// Two logins racing with the same TOTP code, or the same scratch code: exactly one gets in.
func TestChallengeRace(t *testing.T) {
	for _, name := range []string{"totp", "scratch"} {
		t.Run(name, func(t *testing.T) {
			r := newRig(t)
			r.c.Limiter.Limits = limit.Limits{} // isolate the replay protection
			answer := r.code(t)
			if name == "scratch" {
				answer = r.codes[1]
			}
			var wins atomic.Int32
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := 0; i < 8; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					s := &script{answers: []string{answer}}
					if _, err := r.c.Challenge(context.Background(), s.prompt, r.cred, policy.TOTP); err == nil {
						wins.Add(1)
					}
				}()
			}
			close(start)
			wg.Wait()
			if wins.Load() != 1 {
				t.Fatalf("%d racing logins succeeded, want 1", wins.Load())
			}
		})
	}
}

type rw struct {
	in  io.Reader
	out bytes.Buffer
}

func (c *rw) Read(p []byte) (int, error)  { return c.in.Read(p) }
func (c *rw) Write(p []byte) (int, error) { return c.out.Write(p) }

func TestTerminalPrompt(t *testing.T) {
	conn := &rw{in: strings.NewReader(secretPassword + "\r")}
	tm := term.NewTerminal(conn, "> ")
	p := TerminalPrompt(tm)
	got, err := p(context.Background(), "", "line one\nline two", []string{"Password: "}, []bool{false})
	if err != nil || len(got) != 1 || got[0] != secretPassword {
		t.Fatalf("%q, %v", got, err)
	}
	out := conn.out.String()
	if !strings.Contains(out, "line one\r\nline two\r\n") || !strings.Contains(out, "Password: ") {
		t.Fatalf("output %q", out)
	}
	if strings.Contains(out, secretPassword) {
		t.Fatal("the password was echoed")
	}
	if _, err := p(context.Background(), "", "", []string{"Password: "}, []bool{false}); err == nil {
		t.Fatal("EOF (client gone) did not fail the prompt")
	}
}

// TestPassNotAuditedIsRefused: a right answer whose pass the audit log cannot record lets nobody
// in (fail closed); with an observer that cannot say so (plain Observer), it passes as before.
func TestPassNotAuditedIsRefused(t *testing.T) {
	r := newRig(t)
	var kinds []EventKind
	r.c.Observer = CheckedObserverFunc(func(_ context.Context, e Event) error {
		kinds = append(kinds, e.Kind)
		if e.Kind == EventPass {
			return errors.New("write audit: no space left on device")
		}
		return nil
	})
	s := &script{answers: []string{secretPassword}}
	_, err := r.c.Challenge(context.Background(), s.prompt, r.cred, policy.Password)
	if k, ok := kindOf(err); !ok || k != KindInternal {
		t.Fatalf("a pass the log could not record: err %v, want an internal refusal", err)
	}
	if len(kinds) == 0 || kinds[len(kinds)-1] != EventRefused {
		t.Fatalf("events %v, want the refusal after the unrecorded pass", kinds)
	}

	r = newRig(t)
	s = &script{answers: []string{secretPassword}}
	if _, err := r.c.Challenge(context.Background(), s.prompt, r.cred, policy.Password); err != nil {
		t.Fatalf("with a plain observer: %v", err)
	}
}
