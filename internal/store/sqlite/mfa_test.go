package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/internal/store"
)

func mfaStore(t *testing.T) (*Store, context.Context) {
	t.Helper()
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "g.db"))
	for _, n := range []string{"alice", "bob"} {
		if err := s.CreateAccount(ctx, store.Account{Name: n, CreatedAt: time.Now()}, nil); err != nil {
			t.Fatal(err)
		}
	}
	return s, ctx
}

func TestMFACredentialsRoundTrip(t *testing.T) {
	s, ctx := mfaStore(t)
	c, err := s.GetMFA(ctx, "alice")
	if err != nil || c.PasswordHash != "" || c.TOTPSet || c.ScratchLeft != 0 || c.Account != "alice" {
		t.Fatalf("empty factors: %+v %v", c, err)
	}
	changed := time.Date(2023, 8, 2, 10, 0, 0, 0, time.UTC)
	if err := s.SetMFAPassword(ctx, "alice", "$argon2id$h1", changed, true); err != nil {
		t.Fatal(err)
	}
	err = s.SetMFATOTP(ctx, "alice", store.MFATOTP{Sealed: []byte("sealed"), Created: changed, ScratchHashes: []string{"h1", "h2", "h2"},
		LastStep: 42, HasLastStep: true, RateAttempts: 5, RateSeconds: 60})
	if err != nil {
		t.Fatal(err)
	}
	c, _ = s.GetMFA(ctx, "alice")
	if c.PasswordHash != "$argon2id$h1" || !c.PasswordChanged.Equal(changed) || !c.PasswordTemporary ||
		!c.TOTPSet || string(c.TOTPSealed) != "sealed" || c.ScratchLeft != 2 || c.TOTPRateAttempts != 5 || c.TOTPRateSeconds != 60 {
		t.Fatalf("stored factors: %+v", c)
	}
	if step, ok, _ := s.LastTOTPStep(ctx, "alice"); !ok || step != 42 {
		t.Fatalf("seeded step %d %v", step, ok)
	}
	// A rehash only replaces the hash it was computed from.
	_ = s.RehashMFAPassword(ctx, "alice", "$argon2id$other", "$argon2id$h2")
	if c, _ = s.GetMFA(ctx, "alice"); c.PasswordHash != "$argon2id$h1" {
		t.Fatalf("rehash of a stale hash applied: %s", c.PasswordHash)
	}
	_ = s.RehashMFAPassword(ctx, "alice", "$argon2id$h1", "$argon2id$h2")
	if c, _ = s.GetMFA(ctx, "alice"); c.PasswordHash != "$argon2id$h2" || !c.PasswordChanged.Equal(changed) {
		t.Fatalf("rehash: %+v", c)
	}
	// bob is untouched.
	if c, _ = s.GetMFA(ctx, "bob"); c.PasswordHash != "" || c.TOTPSet {
		t.Fatalf("bob: %+v", c)
	}
	// Clearing TOTP removes the key, the scratch codes and the replay state.
	if had, err := s.ClearMFATOTP(ctx, "alice"); !had || err != nil {
		t.Fatal(had, err)
	}
	if had, _ := s.ClearMFATOTP(ctx, "alice"); had {
		t.Fatal("second clear reported a factor")
	}
	c, _ = s.GetMFA(ctx, "alice")
	if _, ok, _ := s.LastTOTPStep(ctx, "alice"); c.TOTPSet || c.ScratchLeft != 0 || ok {
		t.Fatalf("after clear: %+v step %v", c, ok)
	}
	if had, _ := s.ClearMFAPassword(ctx, "alice"); !had {
		t.Fatal("password clear")
	}
	// Deleting the account deletes its factors.
	_ = s.SetMFAPassword(ctx, "bob", "$argon2id$b", changed, false)
	_ = s.SetMFATOTP(ctx, "bob", store.MFATOTP{ScratchHashes: []string{"x"}})
	if err := s.DeleteAccount(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	var n int
	_ = s.db.QueryRow(`SELECT (SELECT COUNT(*) FROM mfa_password) + (SELECT COUNT(*) FROM mfa_totp) + (SELECT COUNT(*) FROM mfa_scratch)`).Scan(&n)
	if n != 0 {
		t.Fatalf("%d MFA rows left after the account was deleted", n)
	}
}

// The three atomic operations hold under concurrency: one winner per step, per scratch code,
// and no lost update of the limiter state.
func TestMFAAtomicOperations(t *testing.T) {
	s, ctx := mfaStore(t)
	if err := s.SetMFATOTP(ctx, "alice", store.MFATOTP{ScratchHashes: []string{"code"}}); err != nil {
		t.Fatal(err)
	}
	var advanced, consumed atomic.Int32
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if ok, err := s.AdvanceTOTPStep(ctx, "alice", 100); err != nil {
				t.Error(err)
			} else if ok {
				advanced.Add(1)
			}
			if ok, err := s.ConsumeScratchCode(ctx, "alice", "code"); err != nil {
				t.Error(err)
			} else if ok {
				consumed.Add(1)
			}
			err := s.UpdateMFALimit(ctx, "alice", "totp", func(st *store.MFALimitState) error {
				st.Failures++
				st.Tries = append(st.Tries, time.Unix(0, int64(st.Failures)))
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if advanced.Load() != 1 || consumed.Load() != 1 {
		t.Fatalf("advanced %d times, consumed %d times; want 1 and 1", advanced.Load(), consumed.Load())
	}
	if ok, _ := s.AdvanceTOTPStep(ctx, "alice", 99); ok {
		t.Fatal("an older step advanced")
	}
	if ok, _ := s.AdvanceTOTPStep(ctx, "alice", 101); !ok {
		t.Fatal("a newer step did not advance")
	}
	var got store.MFALimitState
	_ = s.UpdateMFALimit(ctx, "alice", "totp", func(st *store.MFALimitState) error { got = *st; return errors.New("read only") })
	if got.Failures != 16 || len(got.Tries) != 16 || got.Tries[15].UnixNano() != 16 {
		t.Fatalf("limiter state after 16 updates: %d failures, %d tries", got.Failures, len(got.Tries))
	}
	// A failing fn saves nothing; Reset forgets everything.
	_ = s.UpdateMFALimit(ctx, "alice", "totp", func(st *store.MFALimitState) error { st.Locked = true; return errors.New("no") })
	_ = s.UpdateMFALimit(ctx, "alice", "totp", func(st *store.MFALimitState) error { got = *st; return nil })
	if got.Locked {
		t.Fatal("a failed update was saved")
	}
	if err := s.ResetMFALimits(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	_ = s.UpdateMFALimit(ctx, "alice", "totp", func(st *store.MFALimitState) error { got = *st; return nil })
	if got.Failures != 0 || len(got.Tries) != 0 {
		t.Fatalf("after reset: %+v", got)
	}
}

func TestMFASecretCreatedOnce(t *testing.T) {
	s, ctx := mfaStore(t)
	var wg sync.WaitGroup
	vals := make([]string, 8)
	for i := range vals {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := s.MFASecret(ctx, "scratch-key", func() ([]byte, error) { return []byte{byte('a' + i)}, nil })
			if err != nil {
				t.Error(err)
			}
			vals[i] = string(v)
		}()
	}
	wg.Wait()
	for _, v := range vals {
		if v != vals[0] || v == "" {
			t.Fatalf("callers saw different secrets: %q", vals)
		}
	}
	if _, err := s.MFASecret(ctx, "other", func() ([]byte, error) { return nil, errors.New("no randomness") }); err == nil {
		t.Fatal("a failing create stored something")
	}
}
