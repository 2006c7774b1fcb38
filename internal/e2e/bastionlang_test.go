package e2e

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

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
	// The usage shows the short forms; -h alone is still the help.
	for _, words := range [][]string{{"--osh", "selfAddPersonalAccess", "--help"}, {"--osh", "whoHasAccessTo", "-h"}} {
		if r := b.Admin(words...); r.Exit != 0 || !strings.Contains(r.Stdout, "-h, --host VALUE") || !strings.Contains(r.Stdout, "-u, -l, --user VALUE") {
			t.Errorf("%q: exit %d\n%s", words, r.Exit, r.Stdout)
		}
	}
	// The audit records the options under their own names, whatever the spelling typed.
	b.MustOK("--osh", "accountInfo", "--ACC", "bob")
	found := false
	for _, e := range auditEntries(t, b, "osh.command") {
		f, _ := e["fields"].(map[string]any)
		if f["plugin"] == "accountInfo" {
			found = true
			if p := strings.Join(anyStrings(f["params"]), " "); p != "--account bob" {
				t.Errorf("audited params %q, want --account bob", p)
			}
		}
	}
	if !found {
		t.Error("accountInfo not audited")
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
	// An attacker's near misses, each piped in as a script would: none deletes.
	for _, typed := range []string{"Yes, do as I say and delete bob, kthxbye \n", " Yes, do as I say and delete bob, kthxbye\n",
		"yes, do as i say and delete bob, kthxbye\n", "Yes, do as I say and delete bob, kthxbye\x00\n", "Yes, do as I say and delete bob,kthxbye\n",
		"\nYes, do as I say and delete bob, kthxbye\n", "Yes, do as I say and delete bob\rYes, do as I say and delete bob, kthxbye\n",
		"Yes, do as I say and delete bob, kthxbye" + strings.Repeat("!", 2000) + "\n", "Yes, do as I say and delete *, kthxbye\n",
		"Yes, do as I say and delete b*, kthxbye\n", "", "\n"} {
		r := b.SSHIn(in(typed), b.AdminKey, "admin", "--json-greppable", "--osh", "accountDelete", "--account", "bob")
		if r.Code() != "ERR_OPERATOR_IS_DRUNK" {
			t.Fatalf("%q: %s", typed, r.Stdout)
		}
	}
	// An option smuggled as the value of -h/-u before --osh stays a value; a batch cannot feed
	// the sentence from its own input (padding past any buffer), it needs --no-confirm.
	for _, words := range [][]string{{"-h", "--no-confirm", "--osh", "accountDelete", "--account", "bob"},
		{"-u", "--no-confirm", "-h", "x", "--osh", "accountDelete", "--account", "bob"}} {
		if r := b.SSHIn(in("\n"), b.AdminKey, "admin", append([]string{"--json-greppable"}, words...)...); r.Code() == "OK" {
			t.Fatalf("%q deleted bob: %s", words, r.Stdout)
		}
	}
	batch := "accountDelete --account bob\n" + strings.Repeat("#"+strings.Repeat("p", 2000)+"\n", 100) + "Yes, do as I say and delete bob, kthxbye\n"
	if r := b.SSHIn(in(batch), b.AdminKey, "admin", "--json-greppable", "--osh", "batch"); !strings.Contains(r.Stdout, "ERR_OPERATOR_IS_DRUNK") || !strings.Contains(r.Stdout, "inside a batch") {
		t.Fatalf("batch fed the sentence: %s", r.Stdout)
	}
	if r := b.SSH(bobKey, "bob", "--json-greppable", "--osh", "info"); r.Exit != 0 {
		t.Fatalf("bob gone after wrong sentences: %s", r.Stdout)
	}
	r = b.SSHIn(in("Yes, do as I say and delete bob, kthxbye\n"), b.AdminKey, "admin", "--json-greppable", "--osh", "accountDelete", "--account", "bob")
	if j := r.JSON(); r.Exit != 0 || j["error_code"] != "OK" || !strings.Contains(r.Stdout, "OK, proceeding...") {
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

// TestBastionHumanLines: the lines people and expect scripts wait for, as The Bastion prints
// them, through the real ssh client: " allowed ... log on" then "Connecting..." before a
// connection (none with --quiet), batch's "--- waiting for input" and "--- launching command: X",
// a replay's "Total Recall" header, "*" for any user or port in lists, and durations as 00:00:15.
func TestBastionHumanLines(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	sshd, aliceKey := targetSetup(t, b)
	dest := fmt.Sprintf("%s@127.0.0.1", sshd.User)

	r := b.SSH(aliceKey, "alice", dest, "-p", fmt.Sprint(sshd.Port), "echo", "hi")
	allowed := strings.Index(r.Stderr, " allowed ... log on(")
	connecting := strings.Index(r.Stderr, "\nConnecting...\n")
	if r.Exit != 0 || allowed < 0 || connecting < allowed {
		t.Fatalf("connection lines: exit %d stderr %q", r.Exit, r.Stderr)
	}
	if r := b.SSH(aliceKey, "alice", "--quiet", dest, "-p", fmt.Sprint(sshd.Port), "true"); strings.Contains(r.Stderr, "Connecting...") {
		t.Errorf("--quiet still says Connecting...: %q", r.Stderr)
	}

	r = b.SSHIn(strings.NewReader("info\nnope --x\n"), aliceKey, "alice", "--osh", "batch")
	for _, want := range []string{"--- waiting for input", "--- launching command: info", "--- launching command: nope --x", "--- command failed!"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("batch lacks %q:\n%s", want, r.Stdout)
		}
	}
	if strings.Index(r.Stdout, "--- waiting for input") > strings.Index(r.Stdout, "--- launching command: info") {
		t.Errorf("batch: waiting for input after the first command:\n%s", r.Stdout)
	}

	// The replay of the connection above: its header, then the recording, after Enter.
	var id string
	for try := 0; try < 200 && id == ""; try++ {
		r := b.SSH(aliceKey, "alice", "--json-greppable", "--osh", "selfListSessions", "--type", "ssh")
		vals, _ := r.JSON()["value"].([]any)
		for _, it := range vals {
			if m := it.(map[string]any); m["status"] == "closed" {
				id = m["id"].(string)
			}
		}
	}
	if id == "" {
		t.Fatal("the connection is not listed as closed")
	}
	r = b.SSHIn(strings.NewReader("\n"), aliceKey, "alice", "--osh", "selfPlaySession", "--id", id, "--speed", "100")
	if r.Exit != 0 || !strings.Contains(r.Stdout, "When you're ready to replay session "+id+", press ENTER.") ||
		!strings.Contains(r.Stdout, "Starting from the next line, the Total Recall begins. Press CTRL+C to jolt awake.") {
		t.Errorf("replay header: exit %d %q", r.Exit, r.Stdout)
	}

	// "*" where an access allows any user or any port.
	b.MustOK("--osh", "accountAddPersonalAccess", "--account", "alice", "--host", "127.0.0.9", "--user-any", "--port-any")
	r = b.MustOK("--osh", "accountListAccesses", "--account", "alice")
	if !regexp.MustCompile(`127\.0\.0\.9 +\* +\* `).MatchString(r.Stdout) {
		t.Errorf("any user and port not shown as *:\n%s", r.Stdout)
	}

	// A group's guest TTL limit, in The Bastion's sentence and duration format.
	b.CreateAccount("gst")
	b.MustOK("--osh", "groupCreate", "--group", "web", "--owner", "admin", "--no-key")
	b.MustOK("--osh", "groupAddServer", "--group", "web", "--host", "127.0.0.10", "--user-any", "--port-any")
	b.MustOK("--osh", "groupModify", "--group", "web", "--guest-ttl-limit", "15")
	guest := []string{"--json-greppable", "--osh", "groupAddGuestAccess", "--group", "web", "--account", "gst", "--host", "127.0.0.10", "--user-any", "--port-any"}
	if m := b.Admin(guest...).JSON(); m["error_code"] != "ERR_INVALID_PARAMETER" ||
		m["error_message"] != "This group requires guest accesses to have a TTL set, to a duration of 00:00:15 or less" {
		t.Errorf("guest without TTL: %v", m)
	}
	if m := b.Admin(append(guest, "--ttl", "1m")...).JSON(); m["error_message"] != "The TTL you specified is invalid, this group requires guest accesses to have a TTL of 00:00:15 maximum" {
		t.Errorf("guest TTL too long: %v", m)
	}
}

// TestBastionGlobalOptionsInLines: a batch line or an interactive line may carry --json or
// --quiet, as The Bastion takes them there: the batch drops the line's --json (its own JSON
// holds every result), the interactive mode prints the JSON after the command.
func TestBastionGlobalOptionsInLines(t *testing.T) {
	b := testenv.Start(t, testenv.Options{Config: "bastionName = \"bastion1\"\n"})
	r := b.SSHIn(strings.NewReader("info --json\naccountList --json-greppable --quiet\n"), b.AdminKey, "admin", "--json-greppable", "--osh", "batch")
	items, _ := r.JSON()["value"].([]any)
	if r.Exit != 0 || len(items) != 2 {
		t.Fatalf("batch: exit %d %s", r.Exit, r.Stdout)
	}
	for _, it := range items {
		res := it.(map[string]any)["result"].(map[string]any)
		if res["error_code"] != "OK" {
			t.Errorf("batch line %v: %v", it.(map[string]any)["command"], res)
		}
	}
	term := b.SSHTerminal(b.AdminKey, "admin", 100, 30, "-i")
	off := term.Expect(0, "admin@bastion1(master)> ", 10*time.Second)
	term.Send("info --json\r")
	off = term.Expect(off, "JSON_START", 5*time.Second)
	off = term.Expect(off, `"command":"info"`, 5*time.Second)
	term.Expect(off, "JSON_END", 5*time.Second)
	term.Send("exit\r")
	term.Wait(5 * time.Second)
}

// TestBastionAccountListLeastPrivilege: accountList gives each account's name and activeness;
// --audit, for auditors only (ERR_PERMISSION_DENIED otherwise), adds the rest, as The Bastion.
func TestBastionAccountListLeastPrivilege(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	bobKey := b.CreateAccount("bob")
	b.CreateAccount("carol", "--comment", "'secret project'")
	b.MustOK("--osh", "accountGrantCommand", "--account", "bob", "--command", "accountList")
	r := b.SSH(bobKey, "bob", "--json-greppable", "--osh", "accountList")
	carol, _ := r.JSON()["value"].(map[string]any)["carol"].(map[string]any)
	if r.Exit != 0 || len(carol) != 2 || carol["name"] != "carol" || carol["is_active"] != float64(1) || strings.Contains(r.Stdout, "secret") {
		t.Fatalf("accountList as a non-auditor: %v\n%s", carol, r.Stdout)
	}
	if r := b.SSH(bobKey, "bob", "--json-greppable", "--osh", "accountList", "--audit"); r.Exit != 100 || r.Code() != "ERR_PERMISSION_DENIED" {
		t.Fatalf("--audit as a non-auditor: exit %d %s", r.Exit, r.Stdout)
	}
	r = b.MustOK("--json-greppable", "--osh", "accountList", "--audit")
	carol, _ = r.JSON()["value"].(map[string]any)["carol"].(map[string]any)
	for _, k := range []string{"is_frozen", "is_ttl_expired", "already_seen_before", "created_by", "mfa_totp_required", "can_connect"} {
		if _, ok := carol[k]; !ok {
			t.Errorf("accountList --audit lacks %s: %v", k, carol)
		}
	}
}

// TestBastionConfirmationInteractive: in the interactive mode the sentence is typed in the line
// editor (echoed, editable), and a wrong one aborts there too.
func TestBastionConfirmationInteractive(t *testing.T) {
	b := testenv.Start(t, testenv.Options{Config: "bastionName = \"bastion1\"\n"})
	b.CreateAccount("bob")
	term := b.SSHTerminal(b.AdminKey, "admin", 120, 30, "-i")
	off := term.Expect(0, "admin@bastion1(master)> ", 10*time.Second)
	term.Send("accountDelete --account bob\r")
	off = term.Expect(off, "kthxbye", 5*time.Second)
	term.Send("Yes, do as I say and delete bob, kthxbyX\r")
	off = term.Expect(off, "You're drunk, apparently, aborted.", 5*time.Second)
	term.Send("accountDelete --account bob\r")
	off = term.Expect(off, "kthxbye", 5*time.Second)
	term.Send("Yes, do as I say and delete bob, kthxbyX\x7fe\r") // a typo fixed with backspace
	off = term.Expect(off, "OK, proceeding...", 5*time.Second)
	term.Expect(off, "Account bob deleted", 5*time.Second)
	term.Send("exit\r")
	term.Wait(5 * time.Second)
	if r := b.Admin("--json-greppable", "--osh", "accountInfo", "--account", "bob"); r.Code() != "KO_NOT_FOUND" {
		t.Fatalf("bob after the interactive deletion: %s", r.Stdout)
	}
}
