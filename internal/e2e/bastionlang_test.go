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

// TestBastionConfirmationSentences: scripts pipe The Bastion's sentences into ssh; the right one
// deletes, any other answers ERR_OPERATOR_IS_DRUNK ("aborted", exit 100) and changes nothing.
func TestBastionConfirmationSentences(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	bobKey := b.CreateAccount("bob")
	b.CreateAccount("carol")
	in := func(s string) *strings.Reader { return strings.NewReader(s) }

	r := b.SSHIn(in("Yes, do as I say and delete bob\n"), b.AdminKey, "admin", "--json-greppable", "--osh", "accountDelete", "--account", "bob")
	if j := r.JSON(); r.Exit != 100 || j["error_code"] != "ERR_OPERATOR_IS_DRUNK" || j["value"] != nil || j["command"] != "accountDelete" ||
		!strings.Contains(r.Stdout, "aborted") || !strings.Contains(r.Stdout, `"Yes, do as I say and delete <insert_here_the_account_name>, kthxbye"`) {
		t.Fatalf("wrong sentence: exit %d %v\n%s", r.Exit, j, r.Stdout)
	}
	// Another account's sentence does not delete bob either.
	r = b.SSHIn(in("Yes, do as I say and delete carol, kthxbye\n"), b.AdminKey, "admin", "--json-greppable", "--osh", "accountDelete", "--account", "bob")
	if r.Code() != "ERR_OPERATOR_IS_DRUNK" {
		t.Fatalf("carol's sentence for bob: %s", r.Stdout)
	}
	if r := b.SSH(bobKey, "bob", "--json-greppable", "--osh", "info"); r.Exit != 0 {
		t.Fatalf("bob gone after wrong sentences: %s", r.Stdout)
	}
	r = b.SSHIn(in("Yes, do as I say and delete bob, kthxbye\n"), b.AdminKey, "admin", "--json-greppable", "--osh", "accountDelete", "--account", "bob")
	if j := r.JSON(); r.Exit != 0 || j["error_code"] != "OK" {
		t.Fatalf("right sentence: exit %d %v\n%s", r.Exit, j, r.Stdout)
	}
	if r := b.Admin("--json-greppable", "--osh", "accountInfo", "--account", "bob"); r.Code() != "KO_NOT_FOUND" {
		t.Errorf("bob after deletion: %s", r.Stdout)
	}

	// Groups: the group's name, for groupDestroy (owners) and groupDelete (granted accounts).
	b.MustOK("--osh", "groupCreate", "--group", "web", "--owner", "carol", "--no-key")
	for _, cmd := range []string{"groupDestroy", "groupDelete"} {
		r := b.SSHIn(in("Web\n"), b.AdminKey, "admin", "--json-greppable", "--osh", cmd, "--group", "web")
		if j := r.JSON(); r.Exit != 100 || j["error_code"] != "ERR_OPERATOR_IS_DRUNK" || j["command"] != cmd ||
			!strings.Contains(r.Stdout, "please type the name of the group you want to delete") {
			t.Fatalf("%s with a wrong name: exit %d %v\n%s", cmd, r.Exit, j, r.Stdout)
		}
	}
	b.MustOK("--osh", "groupInfo", "--group", "web")
	r = b.SSHIn(in("web\n"), b.AdminKey, "admin", "--json-greppable", "--osh", "groupDelete", "--group", "web")
	if j := r.JSON(); r.Exit != 0 || j["error_code"] != "OK" || j["command"] != "groupDelete" {
		t.Fatalf("groupDelete with the name: exit %d %v\n%s", r.Exit, j, r.Stdout)
	}
}
