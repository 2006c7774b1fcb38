package e2e

import (
	"fmt"
	"net"
	"strings"
	"testing"

	"gatehouse/internal/sshtest"
	"gatehouse/internal/testenv"
)

// adminJSON runs an admin command with --json-greppable and checks its exit and code.
func adminJSON(t *testing.T, b *testenv.Bastion, exit int, code string, words ...string) testenv.Result {
	t.Helper()
	r := b.Admin(append([]string{"--json-greppable", "--osh"}, words...)...)
	if r.Exit != exit || r.Code() != code {
		t.Fatalf("%v: exit %d code %q, want %d %q\nstdout:\n%s\nstderr:\n%s", words, r.Exit, r.Code(), exit, code, r.Stdout, r.Stderr)
	}
	return r
}

// IP prefixes as The Bastion takes them: a /24 or a /17 without --force in
// accountAddPersonalAccess, groupAddServer and groupSetServers, bounded by widest_v4_prefix; host
// bits set exit 128; host names are stored as their IP.
func TestACLPrefixesAndHostNames(t *testing.T) {
	b := testenv.Start(t, testenv.Options{Config: "[plugin.groupAddServer]\nwidest_v4_prefix = 24\n"})
	b.CreateAccount("pat")
	b.MustOK("--osh", "groupCreate", "--group", "nets", "--owner", "admin", "--algo", "ed25519")

	for _, host := range []string{"10.0.0.0/24", "10.0.128.0/17"} {
		r := adminJSON(t, b, 0, "OK", "accountAddPersonalAccess", "--account", "pat", "--host", host, "--user-any", "--port-any")
		if jsonValue(r, "value", "ip") != host {
			t.Fatalf("%s stored as %v", host, jsonValue(r, "value", "ip"))
		}
	}
	r := adminJSON(t, b, 0, "OK", "accountAddPersonalAccess", "--account", "pat", "--host", "10.9.0.0/24", "--user", "root", "--port", "22")
	if !strings.Contains(r.Stdout, "Can't test a connection to a subnet") {
		t.Fatalf("a prefix was tried: %s", r.Stdout)
	}
	r = adminJSON(t, b, 128, "KO_INVALID_IP", "accountAddPersonalAccess", "--account", "pat", "--host", "10.0.0.1/24", "--user-any", "--port-any")
	if !strings.Contains(r.Stdout, "host bits") {
		t.Fatalf("host bits: %s", r.Stdout)
	}
	adminJSON(t, b, 128, "KO_INVALID_IP", "groupAddServer", "--group", "nets", "--host", "192.168.1.77/16", "--user-any", "--port-any")

	// groupAddServer is bounded by its widest_v4_prefix (24): a /24 passes, a /17 does not.
	adminJSON(t, b, 0, "OK", "groupAddServer", "--group", "nets", "--host", "192.168.7.0/24", "--user-any", "--port-any")
	r = adminJSON(t, b, 100, "ERR_INVALID_PARAMETER", "groupAddServer", "--group", "nets", "--host", "192.168.0.0/17", "--user-any", "--port-any", "--force")
	if !strings.Contains(r.Stdout, "Specified prefix length (/17) is too wide, maximum allowed for IPv4 is /24 by policy") {
		t.Fatalf("too wide: %s", r.Stdout)
	}

	// A host name is resolved now and stored as its IP, the name kept in the comment.
	r = adminJSON(t, b, 0, "OK", "accountAddPersonalAccess", "--account", "pat", "--host", "localhost", "--user-any", "--port", "2222")
	if jsonValue(r, "value", "ip") != "127.0.0.1" || jsonValue(r, "value", "comment") != "hostname=localhost" {
		t.Fatalf("host name: %v", r.JSON()["value"])
	}
	adminJSON(t, b, 128, "KO_INVALID_REMOTE_HOST", "accountAddPersonalAccess", "--account", "pat", "--host", "no-such-host.invalid", "--user-any", "--port-any")

	// groupSetServers: prefixes without --force, names resolved.
	r = b.SSHIn(strings.NewReader("10.1.0.0/17\nroot@localhost:22 by name\n"), b.AdminKey, "admin", "--json-greppable", "--osh", "groupSetServers", "--group", "nets")
	if r.Exit != 0 || r.Code() != "OK" || !strings.Contains(r.Stdout, `"10.1.0.0/17"`) || !strings.Contains(r.Stdout, `"127.0.0.1"`) {
		t.Fatalf("groupSetServers: exit %d\n%s", r.Exit, r.Stdout)
	}
}

// dnsSupportLevel = 0 refuses host names with ERR_DNS_DISABLED, exit 132, and adds nothing.
func TestACLDNSDisabled(t *testing.T) {
	b := testenv.Start(t, testenv.Options{Config: "dnsSupportLevel = 0\n"})
	b.CreateAccount("pat")
	r := adminJSON(t, b, 132, "ERR_DNS_DISABLED", "accountAddPersonalAccess", "--account", "pat", "--host", "localhost", "--user-any", "--port-any")
	if !strings.Contains(r.Stdout, "DNS resolving is disabled") {
		t.Fatalf("message: %s", r.Stdout)
	}
	b.MustOK("--osh", "groupCreate", "--group", "g", "--owner", "admin", "--algo", "ed25519")
	adminJSON(t, b, 132, "ERR_DNS_DISABLED", "groupAddServer", "--group", "g", "--host", "localhost", "--user-any", "--port-any")
	r = b.SSHIn(strings.NewReader("localhost\n"), b.AdminKey, "admin", "--json-greppable", "--osh", "groupSetServers", "--group", "g")
	if r.Exit != 132 || r.Code() != "ERR_DNS_DISABLED" {
		t.Fatalf("groupSetServers: exit %d %s", r.Exit, r.Code())
	}
	if r := b.Admin("--json-greppable", "--osh", "accountListAccesses", "--account", "pat"); strings.Contains(r.Stdout, "127.0.0.1") {
		t.Fatalf("a refused name was stored: %s", r.Stdout)
	}
}

// Adding a server or a personal access tries the connection with the egress key that will be
// used, against a real sshd: the installed key passes, a key the target refuses and a closed
// port are refused with ERR_CONNECTION_FAILED, and --force adds without trying.
func TestACLAddTriesTheConnection(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	sshd := sshtest.StartSSHD(t)
	port := fmt.Sprint(sshd.Port)
	quinnKey := b.CreateAccount("quinn")
	line := egressKeyList(t, b.SSH(quinnKey, "quinn", "--json-greppable", "--osh", "selfListEgressKeys").JSON()["value"])[0]["line"].(string)
	sshd.Authorize(t, line)
	b.CreateAccount("rob") // rob's key is not on the target

	r := adminJSON(t, b, 0, "OK", "accountAddPersonalAccess", "--account", "quinn", "--host", "127.0.0.1", "--user", sshd.User, "--port", port)
	if !strings.Contains(r.Stdout, "Testing connection to "+sshd.User+"@127.0.0.1") {
		t.Fatalf("no test announced: %s", r.Stdout)
	}
	r = adminJSON(t, b, 100, "ERR_CONNECTION_FAILED", "accountAddPersonalAccess", "--account", "rob", "--host", "127.0.0.1", "--user", sshd.User, "--port", port)
	for _, want := range []string{"Couldn't connect to " + sshd.User + "@127.0.0.1", "did you add the proper public key", "if you still want to add this access even if it doesn't work, use --force"} {
		if !strings.Contains(r.Stdout, want) {
			t.Fatalf("refusal lacks %q:\n%s", want, r.Stdout)
		}
	}
	if r := b.Admin("--json-greppable", "--osh", "accountListAccesses", "--account", "rob"); r.Exit != 0 || strings.Contains(r.Stdout, port) {
		t.Fatalf("a refused access was stored: %s", r.Stdout)
	}
	r = adminJSON(t, b, 0, "OK", "accountAddPersonalAccess", "--account", "rob", "--host", "127.0.0.1", "--user", sshd.User, "--port", port, "--force")
	if !strings.Contains(r.Stdout, "Forcing add as asked, we didn't test the SSH connection") {
		t.Fatalf("--force: %s", r.Stdout)
	}

	// A closed port: the test fails fast.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	adminJSON(t, b, 100, "ERR_CONNECTION_FAILED", "accountAddPersonalAccess", "--account", "quinn", "--host", "127.0.0.1", "--user", sshd.User, "--port", closed)

	// groupAddServer with the group's key, installed or not.
	r = adminJSON(t, b, 0, "OK", "groupCreate", "--group", "ops", "--owner", "admin", "--algo", "ed25519")
	gpub := jsonValue(r, "value", "public_key", "line").(string)
	adminJSON(t, b, 100, "ERR_CONNECTION_FAILED", "groupAddServer", "--group", "ops", "--host", "127.0.0.1", "--user", sshd.User, "--port", port)
	sshd.Authorize(t, gpub)
	adminJSON(t, b, 0, "OK", "groupAddServer", "--group", "ops", "--host", "127.0.0.1", "--user", sshd.User, "--port", port)
	// Any user cannot be tried: added with a note.
	r = adminJSON(t, b, 0, "OK", "groupAddServer", "--group", "ops", "--host", "127.0.0.1", "--user-any", "--port", closed)
	if !strings.Contains(r.Stdout, "the specified user is special") {
		t.Fatalf("any user: %s", r.Stdout)
	}

	// --force-key: the access uses that key only. quinn gets a second key, not on the target.
	r = b.SSH(quinnKey, "quinn", "--json-greppable", "--osh", "selfGenerateEgressKey", "--algo", "ed25519")
	if r.Exit != 0 {
		t.Fatalf("selfGenerateEgressKey: %s", r.Stdout)
	}
	keys := egressKeyList(t, b.SSH(quinnKey, "quinn", "--json-greppable", "--osh", "selfListEgressKeys").JSON()["value"])
	var onTarget, other string
	for _, k := range keys {
		if strings.Contains(line, strings.Fields(k["line"].(string))[1]) {
			onTarget = k["fingerprint"].(string)
		} else {
			other = k["fingerprint"].(string)
		}
	}
	if onTarget == "" || other == "" {
		t.Fatalf("keys: %v", keys)
	}
	b.MustOK("--osh", "accountDelPersonalAccess", "--account", "quinn", "--host", "127.0.0.1", "--user", sshd.User, "--port", port)
	adminJSON(t, b, 100, "ERR_CONNECTION_FAILED", "accountAddPersonalAccess", "--account", "quinn", "--host", "127.0.0.1", "--user", sshd.User, "--port", port, "--force-key", other)
	adminJSON(t, b, 100, "KO_NO_MATCHING_KEY", "accountAddPersonalAccess", "--account", "quinn", "--host", "127.0.0.1", "--user", sshd.User, "--port", port, "--force-key", "SHA256:"+strings.Repeat("A", 43))
	adminJSON(t, b, 100, "ERR_INCOMPATIBLE_PARAMETERS", "accountAddPersonalAccess", "--account", "quinn", "--host", "127.0.0.1", "--user", sshd.User, "--port", port, "--force-key", other, "--force-password", "$6$abc$def")
	r = adminJSON(t, b, 0, "OK", "accountAddPersonalAccess", "--account", "quinn", "--host", "127.0.0.1", "--user", sshd.User, "--port", port, "--force-key", other, "--force")
	if jsonValue(r, "value", "forceKey") != other {
		t.Fatalf("forceKey not in the value: %s", r.Stdout)
	}
	// Bound to the key that is not on the target: the login fails, though the other key would work.
	if r := b.SSH(quinnKey, "quinn", sshd.User+"@127.0.0.1", "-p", port, "true"); r.Exit != 255 {
		t.Fatalf("--force-key to a key not installed still logged in: exit %d", r.Exit)
	}
	b.MustOK("--osh", "accountDelPersonalAccess", "--account", "quinn", "--host", "127.0.0.1", "--user", sshd.User, "--port", port)
	adminJSON(t, b, 0, "OK", "accountAddPersonalAccess", "--account", "quinn", "--host", "127.0.0.1", "--user", sshd.User, "--port", port, "--force-key", onTarget)
	if r := b.SSH(quinnKey, "quinn", sshd.User+"@127.0.0.1", "-p", port, "true"); r.Exit != 0 {
		t.Fatalf("--force-key to the installed key: exit %d\n%s", r.Exit, r.Stderr)
	}
}
