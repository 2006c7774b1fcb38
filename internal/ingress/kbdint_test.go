package ingress

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"

	"golang.org/x/crypto/ssh"

	"gatehouse/internal/store"
)

// kiAuth is an Authenticator whose WithoutPublicKey answers with a callback that says which
// account it was given ("" for none), or nil when nilCB.
type kiAuth struct {
	nilCB bool
	got   *string // the account WithoutPublicKey was given
	calls *int
}

var errKI = errors.New("ki callback ran")

func (kiAuth) AfterPublicKey(_ ssh.ConnMetadata, _ store.Account, p *ssh.Permissions) (*ssh.Permissions, error) {
	return p, nil
}

func (k kiAuth) WithoutPublicKey(_ ssh.ConnMetadata, a store.Account) func(ssh.ConnMetadata, ssh.KeyboardInteractiveChallenge) (*ssh.Permissions, error) {
	*k.calls++
	*k.got = a.Name
	if k.nilCB {
		return nil
	}
	return func(ssh.ConnMetadata, ssh.KeyboardInteractiveChallenge) (*ssh.Permissions, error) {
		return nil, errKI
	}
}

// TestKeyboardInteractiveFor: every combination of what the store answered about the account
// and what the Authenticator answers. A store that did not answer refuses with its banner and
// never reaches the Authenticator; a missing or invalid account reaches it as the empty account
// (so it answers like any name that needs a key); a nil answer, or no Authenticator, refuses.
func TestKeyboardInteractiveFor(t *testing.T) {
	alice := store.Account{ID: "id-a", Name: "alice"}
	down := &ssh.BannerError{Err: errStoreDown, Message: StoreDownBanner}
	conn := connMeta{user: "alice", remote: &net.TCPAddr{IP: net.ParseIP("192.0.2.1"), Port: 5000}}
	type want int
	const (
		refused want = iota // refuseKeyboardInteractive: errAuth, no prompt
		theirs              // the Authenticator's callback
		banner              // the store-down banner, no callback
	)
	for _, lookup := range []struct {
		name    string
		a       store.Account
		err     error
		account string // what the Authenticator must be given
	}{
		{"account", alice, nil, "alice"},
		{"no such account", store.Account{}, errAuth, ""},
		{"store down", store.Account{}, down, ""},
		{"account and an error", alice, errAuth, ""}, // an error wins: never the account
	} {
		for _, auth := range []struct {
			name string
			auth func(got *string, calls *int) Authenticator
		}{
			{"no authenticator", func(*string, *int) Authenticator { return nil }},
			{"nil callback", func(g *string, c *int) Authenticator { return kiAuth{nilCB: true, got: g, calls: c} }},
			{"callback", func(g *string, c *int) Authenticator { return kiAuth{got: g, calls: c} }},
		} {
			t.Run(lookup.name+"/"+auth.name, func(t *testing.T) {
				got, calls := "unset", 0
				a := auth.auth(&got, &calls)
				w := refused
				switch {
				case lookup.err == down:
					w = banner
				case a != nil && auth.name == "callback":
					w = theirs
				}
				cb, err := keyboardInteractiveFor(conn, lookup.a, lookup.err, a)
				switch w {
				case banner:
					if cb != nil || !errors.Is(err, errStoreDown) {
						t.Fatalf("cb %v err %v, want the store-down banner and no callback", cb != nil, err)
					}
					if calls != 0 {
						t.Fatal("the Authenticator was asked while the store did not answer")
					}
					return
				case refused, theirs:
					if err != nil || cb == nil {
						t.Fatalf("cb %v err %v, want a callback", cb != nil, err)
					}
				}
				_, cerr := cb(conn, nil)
				if w == theirs && !errors.Is(cerr, errKI) {
					t.Fatalf("callback error %v, want the Authenticator's", cerr)
				}
				if w == refused && !errors.Is(cerr, errAuth) {
					t.Fatalf("callback error %v, want the refusal", cerr)
				}
				if a != nil && (calls != 1 || got != lookup.account) {
					t.Fatalf("Authenticator asked %d times for %q, want once for %q", calls, got, lookup.account)
				}
			})
		}
	}
}

// countingStore counts account reads and lets a test change the account between them.
type countingStore struct {
	authStore
	reads   *atomic.Int32
	account *atomic.Pointer[store.Account]
}

func (c countingStore) GetAccount(_ context.Context, name string) (store.Account, error) {
	c.reads.Add(1)
	if a := c.account.Load(); a != nil && a.Name == name {
		return *a, nil
	}
	return store.Account{}, store.ErrNotFound
}

// TestNoneReadsNothing: the "none" request reads no account (a key login never pays for the
// keyboard-interactive decision), and the keyboard-interactive method, when tried, decides from
// the account as the store holds it then (created after "none": seen), once per connection.
func TestNoneReadsNothing(t *testing.T) {
	var reads atomic.Int32
	var acct atomic.Pointer[store.Account]
	st := countingStore{reads: &reads, account: &acct}
	s := New(authEnv{st}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	got, calls := "unset", 0
	s.Auth = kiAuth{got: &got, calls: &calls}
	cfg := s.serverConfig(context.Background(), &connAttempts{})
	conn := connMeta{user: "alice", remote: &net.TCPAddr{IP: net.ParseIP("192.0.2.1"), Port: 5000}}

	_, err := cfg.NoClientAuthCallback(conn)
	var partial *ssh.PartialSuccessError
	if !errors.As(err, &partial) || partial.Next.KeyboardInteractiveCallback == nil || partial.Next.PublicKeyCallback == nil {
		t.Fatalf("none: %v, want publickey and keyboard-interactive offered", err)
	}
	if n := reads.Load(); n != 0 {
		t.Fatalf("none read the account %d times, want 0", n)
	}
	acct.Store(&store.Account{ID: "id-a", Name: "alice"}) // created after "none"
	ki := partial.Next.KeyboardInteractiveCallback
	if _, err := ki(conn, nil); !errors.Is(err, errKI) || got != "alice" {
		t.Fatalf("keyboard-interactive: err %v, account %q; want the Authenticator's callback for alice", err, got)
	}
	acct.Store(nil) // deleted: the decision made at the first try stands for this connection
	if _, err := ki(conn, nil); !errors.Is(err, errKI) || reads.Load() != 1 || calls != 1 {
		t.Fatalf("second try: err %v, %d reads, %d decisions; want one of each per connection", err, reads.Load(), calls)
	}
}
