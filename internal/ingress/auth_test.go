package ingress

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"log/slog"
	"net"
	"testing"

	"golang.org/x/crypto/ssh"

	"gatehouse/internal/config"
	"gatehouse/internal/session"
	"gatehouse/internal/store"
)

// authStore answers the two reads authentication makes; any other call panics (nil Store).
type authStore struct {
	store.Store
	accounts map[string]store.Account
	keys     map[string]store.IngressKey // by account+" "+fingerprint
}

func (a authStore) GetAccount(_ context.Context, name string) (store.Account, error) {
	if acc, ok := a.accounts[name]; ok {
		return acc, nil
	}
	return store.Account{}, store.ErrNotFound
}

func (a authStore) FindIngressKey(_ context.Context, account, fp string) (store.IngressKey, error) {
	if k, ok := a.keys[account+" "+fp]; ok {
		return k, nil
	}
	return store.IngressKey{}, store.ErrNotFound
}

type authEnv struct{ st store.Store }

func (e authEnv) Deps() session.Deps {
	cfg := config.Default()
	return session.Deps{Store: e.st, Config: func() *config.Config { return &cfg }}
}
func (authEnv) Parse(line string) session.Line { return session.Line{Raw: line} }
func (authEnv) Serve(context.Context, *session.Session, session.Line) (session.Outcome, int) {
	return session.Outcome{}, 0
}

type connMeta struct {
	user   string
	remote net.Addr
}

func (c connMeta) User() string          { return c.user }
func (c connMeta) SessionID() []byte     { return nil }
func (c connMeta) ClientVersion() []byte { return nil }
func (c connMeta) ServerVersion() []byte { return nil }
func (c connMeta) RemoteAddr() net.Addr  { return c.remote }
func (c connMeta) LocalAddr() net.Addr   { return c.remote }

type secondFactor struct{ called int }

func (f *secondFactor) AfterPublicKey(_ ssh.ConnMetadata, _ store.Account, p *ssh.Permissions) (*ssh.Permissions, error) {
	f.called++
	return MarkFactorsOK(p), nil
}

func (f *secondFactor) WithoutPublicKey(ssh.ConnMetadata, store.Account) func(ssh.ConnMetadata, ssh.KeyboardInteractiveChallenge) (*ssh.Permissions, error) {
	return nil
}

func newKey(t testing.TB) ssh.PublicKey {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestAuthCallbacks: an offered key binds nothing; only the verified key, of the same account,
// allowed from this address, binds the account; the second factor is chained after it.
func TestAuthCallbacks(t *testing.T) {
	alice, other, restricted := newKey(t), newKey(t), newKey(t)
	fp := ssh.FingerprintSHA256
	st := authStore{
		accounts: map[string]store.Account{"alice": {ID: "id-a", Name: "alice"}},
		keys: map[string]store.IngressKey{
			"alice " + fp(alice):      {Account: "alice", Fingerprint: fp(alice)},
			"alice " + fp(restricted): {Account: "alice", Fingerprint: fp(restricted), From: "10.9.0.0/16"},
		},
	}
	s := New(authEnv{st}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx := context.Background()
	from := func(ip string) net.Addr { return &net.TCPAddr{IP: net.ParseIP(ip), Port: 5000} }
	conn := connMeta{user: "alice", remote: from("192.0.2.1")}

	for _, tc := range []struct {
		name string
		conn connMeta
		key  ssh.PublicKey
		ok   bool
	}{
		{"registered key", conn, alice, true},
		{"unknown key", conn, other, false},
		{"unknown account", connMeta{user: "bob", remote: conn.remote}, alice, false},
		{"invalid account name", connMeta{user: "../alice", remote: conn.remote}, alice, false},
		{"from= does not allow this address", conn, restricted, false},
		{"from= allows this address", connMeta{user: "alice", remote: from("10.9.1.2")}, restricted, true},
	} {
		t.Run("offered/"+tc.name, func(t *testing.T) {
			p, err := s.offeredKey(ctx, tc.conn, tc.key)
			if (err == nil) != tc.ok {
				t.Fatalf("err %v, want ok %v", err, tc.ok)
			}
			if tc.ok && (p.Extensions[extAccountID] != "id-a" || p.Extensions[extKey] != fp(tc.key) || p.Extensions[extVerified] != "") {
				t.Fatalf("an offered key bound %v", p.Extensions)
			}
		})
	}

	offered := func() *ssh.Permissions {
		p, err := s.offeredKey(ctx, conn, alice)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	if _, err := s.verifiedKey(ctx, conn, other, offered()); err == nil {
		t.Error("a key other than the one offered was bound")
	}
	if _, err := s.verifiedKey(ctx, connMeta{user: "bob", remote: conn.remote}, alice, offered()); err == nil {
		t.Error("the offered key's permissions were used for another name")
	}
	if _, err := s.verifiedKey(ctx, conn, alice, nil); err == nil {
		t.Error("a verified key without an offer was bound")
	}
	p, err := s.verifiedKey(ctx, conn, alice, offered())
	if err != nil || p.Extensions[extVerified] != "1" || p.Extensions[extFactors] != "" {
		t.Fatalf("verified: %v %v", p, err)
	}
	f := &secondFactor{}
	s.Auth = f
	if p, err = s.verifiedKey(ctx, conn, alice, offered()); err != nil || f.called != 1 || p.Extensions[extFactors] != "1" {
		t.Fatalf("second factor after the verified key: called %d, %v %v", f.called, p, err)
	}
}

// TestFactorOnlyPermissions: a login without a key binds the account, with factors, and no key.
func TestFactorOnlyPermissions(t *testing.T) {
	p := NewFactorPermissions("alice")
	if p.Extensions[extAccount] != "alice" || p.Extensions[extFactors] != "1" || p.Extensions[extKey] != "" || p.Extensions[extVerified] != "" {
		t.Fatalf("factor-only permissions %v", p.Extensions)
	}
}
