package e2e

import (
	"fmt"
	"strings"
	"testing"

	"gatehouse/internal/testenv"
)

// TestBastionShortOptionsSSH: The Bastion's short options typed with the real ssh client, as
// its users' aliases and scripts do: -h HOST -u USER -p PORT on the access commands (also
// given before --osh, where osh.pl takes them), -f FINGERPRINT on selfDelIngressKey, --pubKey
// on accountCreate, and an abbreviated option name.
func TestBastionShortOptionsSSH(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	_, pub := testenv.NewKey(t, "ed25519", "bob")
	b.MustOK("--osh", "accountCreate", "--acc", "bob", "--pubKey", fmt.Sprintf("%q", pub))
	b.MustOK("--osh", "accountAddPersonalAccess", "--account", "bob", "-h", "127.0.0.1", "-u", "root", "-p", "22")
	b.MustOK("-h", "127.0.0.2", "-l", "web", "-p", "2222", "--osh", "accountAddPersonalAccess", "--account", "bob")
	for _, tc := range []struct{ words []string }{
		{[]string{"--osh", "whoHasAccessTo", "-h", "127.0.0.1", "-u", "root", "-p", "22"}},
		{[]string{"-h", "127.0.0.2", "-u", "web", "-p", "2222", "--osh", "whoHasAccessTo"}},
		{[]string{"--osh", "whoHasAccessTo", "--host=127.0.0.2", "-l", "web", "--port", "2222"}},
	} {
		r := b.MustOK(append([]string{"--json-greppable"}, tc.words...)...)
		if !strings.Contains(r.Stdout, `"bob"`) {
			t.Errorf("%q: bob not listed:\n%s", tc.words, r.Stdout)
		}
	}
	// -h, -u, -p on a removal.
	b.MustOK("--osh", "accountDelPersonalAccess", "--account", "bob", "-h", "127.0.0.1", "-u", "root", "-p", "22")
	if r := b.MustOK("--json-greppable", "--osh", "whoHasAccessTo", "-h", "127.0.0.1", "-u", "root", "-p", "22"); strings.Contains(r.Stdout, `"bob"`) {
		t.Errorf("bob still listed after accountDelPersonalAccess -h -u -p:\n%s", r.Stdout)
	}
	// An ambiguous abbreviation is a bad option, naming the candidates.
	r := b.Admin("--json-greppable", "--osh", "accountInfo", "-a", "bob")
	if r.Exit != 100 || r.Code() != "ERR_BAD_OPTIONS" || !strings.Contains(r.Stdout, "ambiguous") {
		t.Errorf("accountInfo -a: exit %d %s", r.Exit, r.Stdout)
	}
}
