package e2e

import (
	"context"
	"net"
	"testing"

	"gatehouse/internal/testenv"
)

type fakeConn struct{ user string }

func (f fakeConn) User() string          { return f.user }
func (f fakeConn) SessionID() []byte     { return nil }
func (f fakeConn) ClientVersion() []byte { return nil }
func (f fakeConn) ServerVersion() []byte { return nil }
func (f fakeConn) RemoteAddr() net.Addr  { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }
func (f fakeConn) LocalAddr() net.Addr   { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 2} }

// TestKeylessLoginFailsClosedWhenFactorsVanish: an account with an optional key is offered
// keyboard-interactive alone; if its factor is reset before the client answers, the login must be
// refused, not let through with neither a key nor a factor.
func TestKeylessLoginFailsClosedWhenFactorsVanish(t *testing.T) {
	ctx := context.Background()
	b := testenv.Start(t, testenv.Options{})
	b.CreateAccount("gina")
	b.MustOK("--osh", "accountModify", "--account", "gina", "--pubkey-auth-optional", "yes")
	if err := b.App.MFA.SetPassword(ctx, "gina", "correct horse battery", false); err != nil {
		t.Fatal(err)
	}
	acct, _ := b.App.Store.GetAccount(ctx, "gina")
	cb := b.App.MFA.WithoutPublicKey(fakeConn{"gina"}, acct)
	if cb == nil {
		t.Fatal("no keyboard-interactive offered to a pubkey-optional account with a password")
	}
	if _, err := b.App.Store.ClearMFAPassword(ctx, "gina"); err != nil {
		t.Fatal(err)
	}
	asked := false
	perms, err := cb(fakeConn{"gina"}, func(name, instruction string, questions []string, echos []bool) ([]string, error) {
		asked = true
		answers := make([]string, len(questions))
		return answers, nil
	})
	if err == nil || perms != nil {
		t.Fatalf("keyless login with no factor left was accepted (asked=%v)", asked)
	}
}
