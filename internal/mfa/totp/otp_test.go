package totp

import (
	"context"
	"errors"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var (
	seed20 = []byte("12345678901234567890")
	seed32 = []byte("12345678901234567890123456789012")
	seed64 = []byte("1234567890123456789012345678901234567890123456789012345678901234")
)

func TestHOTPRFC4226AppendixD(t *testing.T) {
	want := []string{"755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"}
	for c, w := range want {
		got, err := HOTP(seed20, uint64(c), SHA1, 6)
		if err != nil {
			t.Fatal(err)
		}
		if got != w {
			t.Errorf("HOTP(counter %d) = %s, want %s", c, got, w)
		}
	}
}

func TestTOTPRFC6238AppendixB(t *testing.T) {
	tests := []struct {
		unix                 int64
		sha1, sha256, sha512 string
	}{
		{59, "94287082", "46119246", "90693936"},
		{1111111109, "07081804", "68084774", "25091201"},
		{1111111111, "14050471", "67062674", "99943326"},
		{1234567890, "89005924", "91819424", "93441116"},
		{2000000000, "69279037", "90698825", "38618901"},
		{20000000000, "65353130", "77737706", "47863826"},
	}
	for _, tt := range tests {
		for _, c := range []struct {
			alg  Algorithm
			seed []byte
			want string
		}{{SHA1, seed20, tt.sha1}, {SHA256, seed32, tt.sha256}, {SHA512, seed64, tt.sha512}} {
			key := Key{Secret: c.seed, Algorithm: c.alg, Digits: 8}
			got, err := Code(key, time.Unix(tt.unix, 0))
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("TOTP %s at %d = %s, want %s", c.alg, tt.unix, got, c.want)
			}
		}
	}
}

// oathtool runs the real OATH Toolkit so that our codes are checked against an independent
// implementation.
func oathtool(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("oathtool", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("oathtool %v: %v: %s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestOathtoolCodesAccepted(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		alg    Algorithm
		digits int
		period int64
		flag   string
	}{
		{"sha1-6", SHA1, 6, 30, "--totp"},
		{"sha256-8", SHA256, 8, 30, "--totp=sha256"},
		{"sha512-8", SHA512, 8, 30, "--totp=sha512"},
		{"sha1-6-step60", SHA1, 6, 60, "--totp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			secret, err := NewSecret()
			if err != nil {
				t.Fatal(err)
			}
			b32 := EncodeSecret(secret)
			key := Key{Secret: secret, Algorithm: tc.alg, Digits: tc.digits, Period: tc.period}
			for _, at := range []time.Time{
				time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
				time.Date(2031, 7, 14, 13, 37, 59, 0, time.UTC),
			} {
				code := oathtool(t, tc.flag, "-b", b32, "-d", strconv.Itoa(tc.digits), "-s", strconv.Itoa(int(tc.period))+"s",
					"--now", at.Format("2006-01-02 15:04:05 UTC"))
				v := &Verifier{Steps: &MemStepStore{}, Now: func() time.Time { return at.Add(7 * time.Second) }}
				if _, err := v.Verify(ctx, "alice", key, code); err != nil {
					t.Errorf("oathtool code %s at %s refused: %v", code, at, err)
				}
			}
			// And the code oathtool computes for the real current time (--now omitted).
			code := oathtool(t, tc.flag, "-b", b32, "-d", strconv.Itoa(tc.digits), "-s", strconv.Itoa(int(tc.period))+"s")
			v := &Verifier{Steps: &MemStepStore{}}
			if _, err := v.Verify(ctx, "alice", key, code); err != nil {
				t.Errorf("oathtool current code %s refused: %v", code, err)
			}
		})
	}
}

func TestOathtoolHOTP(t *testing.T) {
	b32 := EncodeSecret(seed20)
	for c := 0; c < 10; c++ {
		want := oathtool(t, "--hotp", "-b", b32, "-c", strconv.Itoa(c))
		got, _ := HOTP(seed20, uint64(c), SHA1, 6)
		if got != want {
			t.Errorf("counter %d: ours %s, oathtool %s", c, got, want)
		}
	}
}

func TestVerifyWindowAndReplay(t *testing.T) {
	ctx := context.Background()
	key := Key{Secret: seed20}
	now := time.Unix(1_700_000_000, 0)
	codeAt := func(d time.Duration) string {
		c, _ := Code(key, now.Add(d))
		return c
	}
	tests := []struct {
		name   string
		window *Window
		offset time.Duration
		want   error
	}{
		{"current", nil, 0, nil},
		{"previous step in default window", nil, -30 * time.Second, nil},
		{"next step in default window", nil, 30 * time.Second, nil},
		{"two steps back outside default window", nil, -60 * time.Second, ErrInvalidCode},
		{"previous minute outside window", nil, -90 * time.Second, ErrInvalidCode},
		{"no skew allowed", &Window{}, -30 * time.Second, ErrInvalidCode},
		{"wide window", &Window{Behind: 8, Ahead: 8}, -4 * time.Minute, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := &Verifier{Steps: &MemStepStore{}, Now: func() time.Time { return now }, Window: tt.window}
			_, err := v.Verify(ctx, "alice", key, codeAt(tt.offset))
			if !errors.Is(err, tt.want) && !(err == nil && tt.want == nil) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
		})
	}

	v := &Verifier{Steps: &MemStepStore{}, Now: func() time.Time { return now }}
	if _, err := v.Verify(ctx, "alice", key, codeAt(0)); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, "alice", key, codeAt(0)); !errors.Is(err, ErrReplayed) {
		t.Fatalf("same code twice: %v, want ErrReplayed", err)
	}
	if _, err := v.Verify(ctx, "alice", key, codeAt(-30*time.Second)); !errors.Is(err, ErrReplayed) {
		t.Fatalf("older code after newer one: %v, want ErrReplayed", err)
	}
	if _, err := v.Verify(ctx, "bob", key, codeAt(0)); err != nil {
		t.Fatalf("another account's step store is separate: %v", err)
	}
	if _, err := v.Verify(ctx, "alice", key, codeAt(30*time.Second)); err != nil {
		t.Fatalf("next step code after current one: %v", err)
	}
	for _, bad := range []string{"", "12345", "1234567", "abcdef", "12345\x00", strings.Repeat("1", 1024)} {
		if _, err := v.Verify(ctx, "carol", key, bad); !errors.Is(err, ErrInvalidCode) {
			t.Errorf("malformed %q: %v", bad, err)
		}
	}
}

type failingSteps struct{}

func (failingSteps) Advance(context.Context, string, int64) (bool, error) {
	return false, errors.New("db down")
}
func (failingSteps) Last(context.Context, string) (int64, bool, error) {
	return 0, false, errors.New("db down")
}

func TestVerifyFailsClosedOnStoreError(t *testing.T) {
	key := Key{Secret: seed20}
	now := time.Unix(1_700_000_000, 0)
	code, _ := Code(key, now)
	v := &Verifier{Steps: failingSteps{}, Now: func() time.Time { return now }}
	if _, err := v.Verify(context.Background(), "alice", key, code); err == nil {
		t.Fatal("a correct code was accepted although the step store failed")
	}
	if _, err := (&Verifier{}).Verify(context.Background(), "alice", key, code); err == nil {
		t.Fatal("accepted without a step store")
	}
}

func TestVerifyRaceSameCodeOneWinner(t *testing.T) {
	key := Key{Secret: seed20}
	now := time.Unix(1_700_000_000, 0)
	code, _ := Code(key, now)
	v := &Verifier{Steps: &MemStepStore{}, Now: func() time.Time { return now }}
	var wins atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if _, err := v.Verify(context.Background(), "alice", key, code); err == nil {
				wins.Add(1)
			}
		}()
	}
	close(start)
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d concurrent logins with one code succeeded, want exactly 1", wins.Load())
	}
}

func TestVerifyHOTP(t *testing.T) {
	ctx := context.Background()
	w := Window{Ahead: 2}
	key := Key{Secret: seed20, Kind: KindHOTP, Counter: 3, Window: &w}
	v := &Verifier{Steps: &MemStepStore{}}
	// Counter 2 is before the imported counter: refused.
	if _, err := v.Verify(ctx, "a", key, "359152"); !errors.Is(err, ErrInvalidCode) {
		t.Fatalf("counter 2: %v", err)
	}
	// Counter 4 (C+1) is in the look-ahead window.
	if got, err := v.Verify(ctx, "a", key, "338314"); err != nil || got != 4 {
		t.Fatalf("counter 4: %d, %v", got, err)
	}
	// Counter 3 is now behind the last used counter.
	if _, err := v.Verify(ctx, "a", key, "969429"); !errors.Is(err, ErrInvalidCode) {
		t.Fatalf("counter 3 after 4: %v", err)
	}
	// The window moves with the last used counter: 7 = 5+2 is reachable now.
	if got, err := v.Verify(ctx, "a", key, "162583"); err != nil || got != 7 {
		t.Fatalf("counter 7: %d, %v", got, err)
	}
}

func TestURI(t *testing.T) {
	key := Key{Secret: seed20}
	got := URI(key, "alice", "bastion1")
	want := "otpauth://totp/gatehouse:alice@bastion1?issuer=gatehouse&secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
	if got != want {
		t.Fatalf("URI =\n%s\nwant\n%s", got, want)
	}
	key = Key{Secret: seed20, Algorithm: SHA256, Digits: 8, Period: 60}
	got = URI(key, "a b", "")
	for _, part := range []string{"otpauth://totp/gatehouse:a%20b?", "algorithm=SHA256", "digits=8", "period=60"} {
		if !strings.Contains(got, part) {
			t.Errorf("URI %s lacks %s", got, part)
		}
	}
	if s, err := DecodeSecret("gezd gnbv-gy3t qojq gezd gnbv gy3t qojq"); err != nil || string(s) != string(seed20) {
		t.Errorf("DecodeSecret of a typed secret = %q, %v", s, err)
	}
}

func TestScratchCodes(t *testing.T) {
	codes, err := NewScratchCodes(DefaultScratchCount)
	if err != nil {
		t.Fatal(err)
	}
	if len(codes) != 5 {
		t.Fatalf("%d codes", len(codes))
	}
	seen := map[string]bool{}
	for _, c := range codes {
		if !IsScratchCode(c) || seen[c] {
			t.Errorf("bad or duplicate scratch code %q", c)
		}
		seen[c] = true
	}
	ctx := context.Background()
	store := &MemScratchStore{}
	s := Scratch{Hasher: ScratchHasher{Key: []byte("0123456789abcdef")}, Store: store}
	hashes, err := s.HashAll("alice", codes)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hashes {
		for _, c := range codes {
			if strings.Contains(h, c) {
				t.Fatal("a stored hash contains the code")
			}
		}
	}
	store.Set("alice", hashes)
	if err := s.Consume(ctx, "bob", codes[0]); !errors.Is(err, ErrInvalidCode) {
		t.Fatalf("another account's code: %v", err)
	}
	if err := s.Consume(ctx, "alice", codes[0]); err != nil {
		t.Fatal(err)
	}
	if err := s.Consume(ctx, "alice", codes[0]); !errors.Is(err, ErrInvalidCode) {
		t.Fatalf("scratch code used twice: %v", err)
	}
	if store.Remaining("alice") != 4 {
		t.Fatalf("remaining %d", store.Remaining("alice"))
	}
	if err := (Scratch{Hasher: ScratchHasher{Key: []byte("short")}, Store: store}).Consume(ctx, "alice", codes[1]); err == nil || errors.Is(err, ErrInvalidCode) {
		t.Fatalf("a short hasher key must be a configuration error, got %v", err)
	}

	// Race: many logins with the same scratch code, exactly one wins.
	var wins atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if s.Consume(ctx, "alice", codes[2]) == nil {
				wins.Add(1)
			}
		}()
	}
	close(start)
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d racing logins with one scratch code succeeded, want 1", wins.Load())
	}
}

// With seed20, steps 50424280 and 50424281 share the code 070562 (found by search; a 6-digit code
// collides with a neighbour about once in a million steps). The step closest to now is used, so a
// collision does not burn the next step.
func TestVerifyCollidingSteps(t *testing.T) {
	const s0, code = 50424280, "070562"
	for _, s := range []int64{s0, s0 + 1} {
		if c, _ := HOTP(seed20, uint64(s), SHA1, 6); c != code {
			t.Fatalf("step %d code %s, the collision fixture is wrong", s, c)
		}
	}
	ctx := context.Background()
	key := Key{Secret: seed20}
	at := func(step int64) func() time.Time {
		return func() time.Time { return time.Unix(step*30+5, 0) }
	}
	v := &Verifier{Steps: &MemStepStore{}, Now: at(s0 + 1)}
	if got, err := v.Verify(ctx, "a", key, code); err != nil || got != s0+1 {
		t.Fatalf("at step %d: %d, %v; want the current step", s0+1, got, err)
	}
	if _, err := v.Verify(ctx, "a", key, code); !errors.Is(err, ErrReplayed) {
		t.Fatalf("again: %v, want ErrReplayed", err)
	}
	// One step earlier the code is the current one and, through the window, the next one's:
	// it is accepted once per step it is valid for, never twice for the same step.
	v = &Verifier{Steps: &MemStepStore{}, Now: at(s0)}
	if got, err := v.Verify(ctx, "a", key, code); err != nil || got != s0 {
		t.Fatalf("at step %d: %d, %v", s0, got, err)
	}
	if got, err := v.Verify(ctx, "a", key, code); err != nil || got != s0+1 {
		t.Fatalf("second use: %d, %v; want step %d, for which the code is also valid", got, err, s0+1)
	}
	if _, err := v.Verify(ctx, "a", key, code); !errors.Is(err, ErrReplayed) {
		t.Fatalf("third use: %v, want ErrReplayed", err)
	}
}
