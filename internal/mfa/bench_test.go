package mfa

import (
	"context"
	"testing"
	"time"

	"gatehouse/internal/mfa/limit"
	"gatehouse/internal/mfa/password"
	"gatehouse/internal/mfa/policy"
	"gatehouse/internal/mfa/totp"
)

// Server-side cost of one factor check, without network round trips:
//
//	go test -run '^$' -bench . -benchmem ./internal/mfa/

func BenchmarkTOTPVerify(b *testing.B) {
	secret, _ := totp.NewSecret()
	key := totp.Key{Secret: secret}
	now := time.Unix(1_700_000_000, 0)
	v := &totp.Verifier{Steps: &totp.MemStepStore{}, Now: func() time.Time { return now }}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(30 * time.Second) // a fresh step each time, or the replay check refuses it
		code, _ := totp.Code(key, now)
		if _, err := v.Verify(ctx, "alice", key, code); err != nil {
			b.Fatal(err)
		}
	}
}

func benchmarkArgon2id(b *testing.B, p password.Params) {
	h, err := password.Hash("correct horse battery staple", p)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if ok, err := password.Verify("correct horse battery staple", h); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

// The default: OWASP's m=19 MiB, t=2, p=1.
func BenchmarkArgon2idVerifyDefault(b *testing.B) { benchmarkArgon2id(b, password.DefaultParams) }

// Other profiles, to choose from with their cost measured (docs/mfa.md, Performance).
func BenchmarkArgon2idVerifyProfiles(b *testing.B) {
	for _, tc := range []struct {
		name string
		p    password.Params
	}{
		{"m=4MiB,t=1,p=1", password.Params{Memory: 4 * 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}},
		{"m=7MiB,t=5,p=1(OWASP)", password.Params{Memory: 7 * 1024, Time: 5, Threads: 1, SaltLen: 16, KeyLen: 32}},
		{"m=46MiB,t=1,p=1(OWASP)", password.Params{Memory: 46 * 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}},
		{"m=64MiB,t=3,p=4(RFC9106)", password.Params{Memory: 64 * 1024, Time: 3, Threads: 4, SaltLen: 16, KeyLen: 32}},
	} {
		b.Run(tc.name, func(b *testing.B) { benchmarkArgon2id(b, tc.p) })
	}
}

// A whole Challenge with a TOTP answer: limiter, prompt, verify, replay store, events.
func BenchmarkChallengeTOTP(b *testing.B) {
	secret, _ := totp.NewSecret()
	key := totp.Key{Secret: secret}
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { return now }
	c := &Challenger{
		TOTP:    &totp.Verifier{Steps: &totp.MemStepStore{}, Now: clock},
		Limiter: &limit.Limiter{Store: &limit.MemStore{}, Limits: limit.Default, Now: clock},
		Now:     clock,
	}
	cred := Credentials{Account: "alice", TOTP: &key}
	var code string
	prompt := func(context.Context, string, string, []string, []bool) ([]string, error) { return []string{code}, nil }
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(30 * time.Second)
		code, _ = totp.Code(key, now)
		if _, err := c.Challenge(ctx, prompt, cred, policy.TOTP); err != nil {
			b.Fatal(err)
		}
	}
}
