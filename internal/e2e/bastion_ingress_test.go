package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gatehouse/internal/testenv"
)

// ingressKeysFrom is put on new keys (a key's own from= is replaced unless overriding is
// allowed), shown as from_list / connect_only_from, and enforced at login by the real ssh from
// two loopback addresses.
func TestIngressKeysFrom(t *testing.T) {
	b := testenv.Start(t, testenv.Options{Config: "ingressKeysFrom = [\"127.0.0.2\"]\nperSourcePenalties = false\n"})
	key := b.CreateAccount("ivy")
	if r := sshFrom(t, b, "127.0.0.2", key, "ivy", "--json-greppable", "--osh", "selfListIngressKeys"); r.Exit != 0 ||
		!strings.Contains(r.Stdout, `"from_list":["127.0.0.2"]`) || !strings.Contains(r.Stdout, `from=\"127.0.0.2\" ssh-ed25519`) {
		t.Fatalf("from 127.0.0.2: exit %d\n%s", r.Exit, r.Stdout)
	}
	if r := sshFrom(t, b, "127.0.0.1", key, "ivy", "--osh", "info"); r.Exit != 255 {
		t.Fatalf("from 127.0.0.1 with a key bound to 127.0.0.2: exit %d\n%s", r.Exit, r.Stdout)
	}
	// A key's own from= is silently replaced (ingressKeysFromAllowOverride = false).
	_, pub := testenv.NewKey(t, "ed25519", "ivy2")
	r := sshFrom(t, b, "127.0.0.2", key, "ivy", "--json-greppable", "--osh", "selfAddIngressKey", "--public-key", fmt.Sprintf("%q", `from="127.0.0.3" `+pub))
	if r.Exit != 0 || !strings.Contains(r.Stdout, `"connect_only_from":["127.0.0.2"]`) || !strings.Contains(r.Stdout, "You will only be able to connect from: 127.0.0.2") {
		t.Fatalf("selfAddIngressKey: exit %d\n%s", r.Exit, r.Stdout)
	}

	// With the override, the key's own list wins.
	b2 := testenv.Start(t, testenv.Options{Config: "ingressKeysFrom = [\"127.0.0.2\"]\ningressKeysFromAllowOverride = true\nperSourcePenalties = false\n"})
	k3, pub3 := testenv.NewKey(t, "ed25519", "jon")
	b2.MustOK("--osh", "accountCreate", "--account", "jon", "--public-key", fmt.Sprintf("%q", `from="127.0.0.3" `+pub3))
	if r := sshFrom(t, b2, "127.0.0.3", k3, "jon", "--json-greppable", "--osh", "selfListIngressKeys"); r.Exit != 0 || !strings.Contains(r.Stdout, `"from_list":["127.0.0.3"]`) {
		t.Fatalf("override: exit %d\n%s", r.Exit, r.Stdout)
	}
	if r := sshFrom(t, b2, "127.0.0.2", k3, "jon", "--osh", "info"); r.Exit != 255 {
		t.Fatalf("override: the bastion's list still let in: exit %d", r.Exit)
	}
}

// minimumIngressRsaKeySize refuses a smaller RSA key in accountCreate.
func TestMinimumIngressRsaKeySize(t *testing.T) {
	b := testenv.Start(t, testenv.Options{Config: "minimumIngressRsaKeySize = 3072\n"})
	_, pub := testenv.NewKey(t, "rsa", "kit") // 2048 bits
	r := b.Admin("--json-greppable", "--osh", "accountCreate", "--account", "kit", "--public-key", fmt.Sprintf("%q", pub))
	if r.Exit == 0 || !strings.Contains(r.Stdout, "at least 3072 are required") {
		t.Fatalf("a 2048-bit key under a 3072 minimum: exit %d\n%s", r.Exit, r.Stdout)
	}
	b.CreateAccount("kat") // ed25519 is unaffected
}

// accountExternalValidationProgram: exit 0 lets in, 1 refuses (KO_INACTIVE_ACCOUNT, exit 101),
// 4 refuses and shows the program's stderr, 2 lets an admin in (deny on failure spares admins),
// always-active accounts are not asked.
func TestAccountExternalValidation(t *testing.T) {
	dir := t.TempDir()
	prog := filepath.Join(dir, "check-active")
	script := "#!/bin/sh\ncase \"$1\" in\n alive) exit 0;;\n noisy) echo 'directory says no' >&2; exit 4;;\n admin) exit 2;;\n *) exit 1;;\nesac\n"
	if err := os.WriteFile(prog, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	// The admin creates the accounts: the program answers 2 (unknown) for it, which lets an admin in.
	b := testenv.Start(t, testenv.Options{Config: "accountExternalValidationProgram = \"" + prog + "\"\n"})
	alive := b.CreateAccount("alive")
	gone := b.CreateAccount("gone")
	noisy := b.CreateAccount("noisy")
	keep := b.CreateAccount("keep", "--always-active")

	if r := b.SSH(alive, "alive", "--json-greppable", "--osh", "info"); r.Exit != 0 {
		t.Fatalf("active account: exit %d\n%s", r.Exit, r.Stdout)
	}
	r := b.SSH(gone, "gone", "--json-greppable", "--osh", "info")
	if r.Exit != 101 || r.Code() != "KO_INACTIVE_ACCOUNT" || !strings.Contains(r.Stdout, "Sorry gone, your account is inactive.") {
		t.Fatalf("inactive account: exit %d\n%s", r.Exit, r.Stdout)
	}
	if r := b.SSH(noisy, "noisy", "--json-greppable", "--osh", "info"); r.Exit != 101 || !strings.Contains(r.Stdout, "directory says no") {
		t.Fatalf("status 4: exit %d\n%s", r.Exit, r.Stdout)
	}
	if r := b.SSH(keep, "keep", "--json-greppable", "--osh", "info"); r.Exit != 0 {
		t.Fatalf("always-active account: exit %d\n%s", r.Exit, r.Stdout)
	}
	if r := b.Admin("--json-greppable", "--osh", "info"); r.Exit != 0 {
		t.Fatalf("admin on an unknown answer: exit %d\n%s", r.Exit, r.Stdout)
	}
}
