package e2e

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"gatehouse/internal/app"
	"gatehouse/internal/testenv"
)

// contract is one line of a command's contract as The Bastion gives it (its plugins' osh_exit
// codes and its own functional tests): who runs what, with what on standard input, and the exit
// status, error_code, command and value shape that come back.
type contract struct {
	as    string   // "admin" or an account made by the test
	words []string // after --osh
	stdin string
	exit  int
	code  string
	cmd   string   // the JSON command: "" = the command typed, "null" = refused before any command ran
	value string   // "null", "object", "array", or "" for any
	keys  []string // keys the object value must have
	exact bool     // the object value has these keys and no other
}

// helpOnly are the commands whose contract the table cannot drive end to end without a person
// or another part (a second factor typed on a terminal, the web console): their --help row and
// the unit tests of their packages stand for them.
var helpOnly = map[string]string{
	"selfMFASetupPassword": "asks a new password on a terminal (internal/e2e/mfa_test.go)",
	"selfMFASetupTOTP":     "asks a first code on a terminal (internal/e2e/mfa_test.go)",
	"selfMFAResetPassword": "asks the current factor (internal/e2e/mfa_test.go)",
	"selfMFAResetTOTP":     "asks the current factor (internal/e2e/mfa_test.go)",
	"accountMFAImportTOTP": "reads a Google Authenticator file (internal/e2e/mfa_test.go)",
	"webLogin":             "needs the web console (internal/e2e/web_console_test.go)",
}

// TestBastionCommandContracts drives every command through the real ssh client and checks its
// contract: exit status, error_code, the command named in the JSON, and the shape of value.
// Every registered command has its --help row (exit 0, OK, value null) and at least one row of
// its own, or a reason in helpOnly; a command added without a contract fails this test.
func TestBastionCommandContracts(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	keys := map[string]string{"admin": b.AdminKey}
	pubs := map[string]string{}
	for _, n := range []string{"bob", "aud", "gk"} {
		k, pub := testenv.NewKey(t, "ed25519", n)
		keys[n], pubs[n] = k, pub
	}
	_, newPub := testenv.NewKey(t, "ed25519", "newkey")
	basic := []string{"account", "always_active", "is_active", "allowed_commands", "groups"}

	rows := []contract{
		// The dispatcher's refusals: command null.
		{as: "admin", words: []string{"noSuchCommand"}, exit: 104, code: "KO_UNKNOWN_COMMAND", cmd: "null", value: "null"},
		{as: "admin", words: []string{"help"}, exit: 0, code: "OK", value: "null"},
		{as: "admin", words: []string{"info"}, exit: 0, code: "OK", value: "object", keys: []string{"account"}},
		// accountCreate: value null; a second time KO_ALREADY_EXISTING.
		{as: "admin", words: []string{"accountCreate", "--account", "bob", "--public-key", fmt.Sprintf("%q", pubs["bob"])}, exit: 0, code: "OK", value: "null"},
		{as: "admin", words: []string{"accountCreate", "--account", "aud", "--public-key", fmt.Sprintf("%q", pubs["aud"]), "--always-active"}, exit: 0, code: "OK", value: "null"},
		{as: "admin", words: []string{"accountCreate", "--account", "gk", "--pubKey", fmt.Sprintf("%q", pubs["gk"])}, exit: 0, code: "OK", value: "null"},
		{as: "admin", words: []string{"accountCreate", "--account", "bob", "--no-key"}, exit: 100, code: "KO_ALREADY_EXISTING", value: "null"},
		{as: "admin", words: []string{"accountCreate", "--account", "tmp", "--no-key", "--ttl", "1d", "--max-inactive-days", "42"}, exit: 0, code: "OK", value: "null"},
		{as: "admin", words: []string{"accountCreate", "--account", "tmp2", "--public-key", "bogus"}, exit: 100, code: "KO_NOT_A_KEY", value: "null"},
		{as: "admin", words: []string{"accountCreate", "--bogus-option"}, exit: 100, code: "ERR_BAD_OPTIONS", value: "null"},
		{as: "admin", words: []string{"accountCreate"}, exit: 100, code: "ERR_MISSING_PARAMETER", value: "null"},
		// A restricted command without the grant: refused before it runs.
		{as: "bob", words: []string{"accountList"}, exit: 106, code: "KO_RESTRICTED_COMMAND", cmd: "null", value: "null"},
		{as: "admin", words: []string{"accountList"}, exit: 0, code: "OK", value: "object", keys: []string{"admin", "bob", "aud"}},
		{as: "admin", words: []string{"accountGrantCommand", "--account", "aud", "--command", "accountInfo"}, exit: 0, code: "OK"},
		{as: "admin", words: []string{"accountGrantCommand", "--account", "aud", "--command", "accountListSessions"}, exit: 0, code: "OK"},
		{as: "admin", words: []string{"accountRevokeCommand", "--account", "aud", "--command", "accountListSessions"}, exit: 0, code: "OK"},
		// accountInfo: least privilege for an account that is not an auditor.
		{as: "aud", words: []string{"accountInfo", "--account", "bob"}, exit: 0, code: "OK", value: "object", keys: basic, exact: true},
		{as: "aud", words: []string{"accountInfo", "--all"}, exit: 100, code: "ERR_ACCESS_DENIED", value: "null"},
		{as: "aud", words: []string{"accountInfo"}, exit: 100, code: "ERR_MISSING_PARAMETER", value: "null"},
		{as: "admin", words: []string{"accountInfo", "--account", "tmp"}, exit: 0, code: "OK", value: "object",
			keys: append([]string{"is_ttl_set", "is_ttl_expired", "ttl_timestamp", "already_seen_before", "creation_information", "created_by",
				"account_egress_ssh_config", "max_inactive_days", "is_frozen", "mfa_totp_required", "osh_only", "last_activity"}, basic...)},
		{as: "admin", words: []string{"accountInfo", "--all"}, exit: 0, code: "OK", value: "object", keys: []string{"admin", "bob", "aud", "tmp"}},
		{as: "admin", words: []string{"accountInfo", "--account", "nobody"}, exit: 100, code: "KO_NOT_FOUND", value: "null"},
		{as: "admin", words: []string{"accountModify", "--account", "bob", "--idle-ignore", "yes"}, exit: 0, code: "OK", value: "object", keys: []string{"idle_ignore"}},
		{as: "admin", words: []string{"accountFreeze", "--account", "tmp", "--reason", "'cest la vie'"}, exit: 0, code: "OK", value: "object", keys: []string{"account", "reason"}},
		{as: "admin", words: []string{"accountFreeze", "--account", "tmp"}, exit: 0, code: "OK_NO_CHANGE"},
		{as: "admin", words: []string{"accountUnfreeze", "--account", "tmp"}, exit: 0, code: "OK", value: "object", keys: []string{"account"}},
		{as: "admin", words: []string{"accountUnfreeze", "--account", "tmp"}, exit: 0, code: "OK_NO_CHANGE"},
		{as: "admin", words: []string{"accountUnexpire", "--account", "tmp"}, exit: 0, code: "OK_NOT_EXPIRED", value: "object", keys: []string{"account"}},
		{as: "admin", words: []string{"accountUnexpire", "--account", "bob"}, exit: 0, code: "OK_EXPIRATION_NOT_CONFIGURED", value: "object", keys: []string{"account"}},
		{as: "admin", words: []string{"accountUnlock", "--account", "tmp"}, exit: 0},
		{as: "admin", words: []string{"accountMFAResetPassword", "--account", "tmp"}, exit: 0},
		{as: "admin", words: []string{"accountMFAResetTOTP", "--account", "tmp"}, exit: 0},
		// Keys.
		{as: "admin", words: []string{"accountListIngressKeys", "--account", "bob"}, exit: 0, code: "OK", value: "object", keys: []string{"account", "keys"}},
		{as: "admin", words: []string{"accountListEgressKeys", "--account", "bob"}, exit: 0, code: "OK", value: "object"}, // keyed by fingerprint (TestEgressKeysKeyedByFingerprint)
		{as: "bob", words: []string{"selfListIngressKeys"}, exit: 0, code: "OK", value: "object", keys: []string{"account", "keys"}},
		{as: "bob", words: []string{"selfListEgressKeys"}, exit: 0, code: "OK", value: "object"},
		{as: "bob", words: []string{"selfGenerateEgressKey", "--algo", "rsa", "--size", "4096"}, exit: 0, code: "OK", value: "object", keys: []string{"size", "family", "typecode", "fingerprint"}},
		{as: "bob", words: []string{"selfGenerateEgressKey", "--algo", "ed25519", "--encrypted"}, exit: 100, code: "ERR_INVALID_PARAMETER", value: "null"},
		{as: "bob", words: []string{"selfDelIngressKey", "--line-number-to-delete", "99"}, exit: 100, code: "ERR_NO_MATCH", value: "null"},
		{as: "bob", words: []string{"selfDelIngressKey", "-f", "SHA256:nope"}, exit: 100, code: "ERR_NO_MATCH", value: "null"},
		{as: "bob", words: []string{"selfAddIngressKey", "--public-key", "bogus"}, exit: 100, code: "KO_NOT_A_KEY", value: "null"},
		{as: "bob", words: []string{"selfAddIngressKey", "--public-key", fmt.Sprintf("%q", pubs["bob"])}, exit: 100, code: "KO_DUPLICATE_KEY"},
		{as: "bob", words: []string{"selfAddIngressKey"}, stdin: "-----BEGIN OPENSSH PRIVATE KEY-----\n", exit: 100, code: "KO_PRIVATE_KEY", value: "null"},
		{as: "bob", words: []string{"selfAddIngressKey", "--pubKey", fmt.Sprintf("%q", newPub)}, exit: 0, code: "OK", value: "object", keys: []string{"account", "key"}},
		{as: "aud", words: []string{"selfDelIngressKey", "--fingerprint-to-delete", fingerprint(t, pubs["aud"])}, exit: 100, code: "ERR_ONLY_ONE_KEY", value: "null"},
		{as: "bob", words: []string{"selfDelIngressKey", "-f", fingerprint(t, newPub)}, exit: 0, code: "OK", value: "object", keys: []string{"deleted_key"}},
		// Accesses: OK_EMPTY with value null when there is none.
		{as: "bob", words: []string{"selfListAccesses"}, exit: 0, code: "OK_EMPTY", value: "null"},
		{as: "admin", words: []string{"accountListAccesses", "--account", "bob"}, exit: 0, code: "OK_EMPTY", value: "null"},
		{as: "admin", words: []string{"accountAddPersonalAccess", "--account", "bob", "-h", "127.0.0.11", "-u", "bob", "-p", "22", "--force"}, exit: 0, code: "OK", value: "object", keys: []string{"account", "ip", "user", "port"}},
		{as: "admin", words: []string{"accountAddPersonalAccess", "--account", "bob", "--host", "1.2.3.4", "--user-any", "--port-any"}, exit: 0, code: "OK", value: "object", keys: []string{"ip", "user", "port"}},
		{as: "admin", words: []string{"accountListAccesses", "--account", "bob"}, exit: 0, code: "OK", value: "array"},
		{as: "bob", words: []string{"selfListAccesses"}, exit: 0, code: "OK", value: "array"},
		{as: "admin", words: []string{"accountDelPersonalAccess", "--account", "bob", "--host", "1.2.3.4", "--user-any", "--port-any"}, exit: 0, code: "OK"},
		{as: "admin", words: []string{"accountDelPersonalAccess", "--account", "bob", "--host", "1.2.3.4", "--user-any", "--port-any"}, exit: 0, code: "OK_NO_CHANGE"},
		{as: "admin", words: []string{"accountAddPersonalAccess", "--account", "nobody", "--host", "1.2.3.4", "--user-any", "--port-any"}, exit: 100, code: "KO_NOT_FOUND"},
		{as: "admin", words: []string{"selfAddPersonalAccess", "-h", "127.0.0.12", "-u", "admin", "-p", "226", "--force"}, exit: 0, code: "OK", value: "object", keys: []string{"ip", "user", "port"}},
		{as: "admin", words: []string{"selfDelPersonalAccess", "-h", "127.0.0.12", "-u", "admin", "-p", "226"}, exit: 0, code: "OK"},
		{as: "admin", words: []string{"selfDelPersonalAccess", "-h", "127.0.0.12", "-u", "admin", "-p", "226"}, exit: 0, code: "OK_NO_CHANGE"},
		{as: "admin", words: []string{"whoHasAccessTo"}, exit: 100, code: "ERR_MISSING_PARAMETER"},
		{as: "admin", words: []string{"whoHasAccessTo", "-h", "127.0.0.11", "-u", "bob", "-p", "22"}, exit: 0, code: "OK"},
		{as: "bob", words: []string{"selfForgetHostKey", "-h", "127.0.0.11", "-p", "22"}, exit: 0, code: "OK_NO_CHANGE", value: "null"}, // no host key recorded (TestForgetHostKeyNothingToForget)
		{as: "bob", words: []string{"selfForgetHostKey", "-h", "127.0.0.11", "-p", "1234"}, exit: 0, code: "OK_NO_CHANGE", value: "null"},
		{as: "admin", words: []string{"assetForgetHostKey", "-h", "127.0.0.11", "-p", "22"}, exit: 0, code: "OK_NO_CHANGE", value: "object", keys: []string{"changed_files"}},
		// Groups.
		{as: "bob", words: []string{"groupList"}, exit: 0, code: "OK_EMPTY", value: "null"},
		{as: "admin", words: []string{"groupCreate", "--group", "grp", "--owner", "admin", "--algo", "ed25519"}, exit: 0, code: "OK", value: "object", keys: []string{"group", "owner"}},
		{as: "admin", words: []string{"groupCreate", "--group", "grp", "--owner", "admin"}, exit: 100, code: "KO_ALREADY_EXISTING", value: "null"},
		{as: "admin", words: []string{"groupCreate", "--group", "orphan", "--owner", "nobody"}, exit: 100, code: "KO_NOT_FOUND"},
		{as: "admin", words: []string{"groupInfo", "--group", "grp"}, exit: 0, code: "OK", value: "object", keys: []string{"group"}},
		{as: "admin", words: []string{"groupInfo", "--group", "nope"}, exit: 100, code: "KO_GROUP_NOT_FOUND"},
		{as: "admin", words: []string{"groupListServers", "--group", "grp"}, exit: 0, code: "OK_EMPTY", value: "null"},
		{as: "admin", words: []string{"groupAddServer", "--group", "grp", "-h", "127.0.0.1", "-u", "g1", "-p", "22", "--force"}, exit: 0, code: "OK", value: "object", keys: []string{"group", "ip", "user", "port"}},
		{as: "admin", words: []string{"groupAddServer", "--group", "grp", "-h", "127.0.0.1", "-u", "g1", "-p", "22", "--force"}, exit: 0, code: "OK_NO_CHANGE"},
		{as: "admin", words: []string{"groupListServers", "--group", "grp"}, exit: 0, code: "OK", value: "array"},
		{as: "admin", words: []string{"groupAddMember", "--group", "grp", "--account", "bob"}, exit: 0, code: "OK", value: "null"},
		{as: "admin", words: []string{"groupAddGatekeeper", "--group", "grp", "--account", "gk"}, exit: 0, code: "OK", value: "null"},
		{as: "admin", words: []string{"groupAddAclkeeper", "--group", "grp", "--account", "gk"}, exit: 0, code: "OK", value: "null"},
		{as: "admin", words: []string{"groupAddOwner", "--group", "grp", "--account", "gk"}, exit: 0, code: "OK", value: "null"},
		{as: "admin", words: []string{"groupDelOwner", "--group", "grp", "--account", "gk"}, exit: 0, code: "OK", value: "null"},
		{as: "admin", words: []string{"groupDelAclkeeper", "--group", "grp", "--account", "gk"}, exit: 0, code: "OK", value: "null"},
		{as: "gk", words: []string{"groupListGuestAccesses", "--group", "grp", "--account", "aud"}, exit: 0, code: "OK_EMPTY", value: "null"},
		{as: "gk", words: []string{"groupAddGuestAccess", "--group", "grp", "--account", "aud", "-h", "127.0.0.9", "-u", "g1", "-p", "22"}, exit: 100, code: "ERR_GROUP_HAS_NO_ACCESS"},
		{as: "gk", words: []string{"groupAddGuestAccess", "--group", "grp", "--account", "bob", "-h", "127.0.0.1", "-u", "g1", "-p", "22"}, exit: 100, code: "ERR_MEMBER_CANNOT_BE_GUEST"},
		{as: "gk", words: []string{"groupAddGuestAccess", "--group", "grp", "--account", "aud", "-h", "127.0.0.1", "-u", "g1", "-p", "22"}, exit: 0, code: "OK"},
		{as: "gk", words: []string{"groupListGuestAccesses", "--group", "grp", "--account", "aud"}, exit: 0, code: "OK", value: "array"},
		{as: "gk", words: []string{"groupDelGuestAccess", "--group", "grp", "--account", "aud", "-h", "127.0.0.1", "-u", "g1", "-p", "22"}, exit: 0, code: "OK"},
		{as: "gk", words: []string{"groupDelMember", "--group", "grp", "--account", "bob"}, exit: 0, code: "OK", value: "null"},
		{as: "admin", words: []string{"groupDelGatekeeper", "--group", "grp", "--account", "gk"}, exit: 0, code: "OK", value: "null"},
		{as: "admin", words: []string{"groupModify", "--group", "grp", "--guest-ttl-limit", "15"}, exit: 0, code: "OK", value: "object", keys: []string{"guest_ttl_limit"}},
		{as: "admin", words: []string{"groupGenerateEgressKey", "--group", "grp", "--algo", "ed25519"}, exit: 0, code: "OK", value: "object", keys: []string{"typecode", "fingerprint"}},
		{as: "admin", words: []string{"groupGenerateEgressKey", "--group", "grp", "--algo", "ed25519", "--encrypted"}, exit: 100, code: "ERR_INVALID_PARAMETER", value: "null"},
		{as: "admin", words: []string{"groupDelEgressKey", "--group", "grp", "--fingerprint", "SHA256:nope"}, exit: 100},
		{as: "admin", words: []string{"groupSetServers", "--group", "grp", "--dry-run"}, stdin: "127.0.0.1 g1 22\n", exit: 0, code: "OK", value: "object", keys: []string{"parsedLines", "errors", "dryrun"}},
		{as: "admin", words: []string{"groupDelServer", "--group", "grp", "-h", "127.0.0.1", "-u", "g1", "-p", "22"}, exit: 0, code: "OK"},
		{as: "admin", words: []string{"groupTransmitOwnership", "--group", "grp", "--account", "gk"}, exit: 0, code: "OK", value: "null"},
		{as: "bob", words: []string{"groupList", "--all"}, exit: 0, code: "OK", value: "object", keys: []string{"grp"}},
		// Egress passwords (The Bastion's self/account/group Generate/ListPasswords).
		{as: "gk", words: []string{"groupGeneratePassword", "--group", "grp", "--do-it"}, exit: 0, code: "OK", value: "object", keys: []string{"context", "group", "hashes"}},
		{as: "gk", words: []string{"groupListPasswords", "--group", "grp"}, exit: 100, code: "ERR_NOT_ALLOWED", value: "null"}, // an owner who is not a member, as The Bastion
		{as: "bob", words: []string{"selfGeneratePassword"}, exit: 100, code: "ERR_MISSING_PARAMETER", value: "null"},
		{as: "bob", words: []string{"selfGeneratePassword", "--size", "4", "--do-it"}, exit: 100, code: "ERR_INVALID_PARAMETER", value: "null"},
		{as: "bob", words: []string{"selfGeneratePassword", "--do-it"}, exit: 0, code: "OK", value: "object", keys: []string{"context", "account", "hashes"}},
		{as: "bob", words: []string{"selfListPasswords"}, exit: 0, code: "OK", value: "array"},
		{as: "admin", words: []string{"accountGeneratePassword", "--account", "bob", "--do-it"}, exit: 0, code: "OK", value: "object", keys: []string{"context", "account", "hashes"}},
		{as: "admin", words: []string{"accountListPasswords", "--account", "bob"}, exit: 0, code: "OK", value: "array"},
		// The network plugins.
		{as: "bob", words: []string{"ping", "-c", "1", "127.0.0.1"}, exit: 0, code: "OK", value: "object", keys: []string{"host", "sysret"}},
		{as: "bob", words: []string{"ping", "--host", "127.0.0.1;id"}, exit: 100, code: "KO_INVALID_REMOTE_HOST", value: "null"},
		{as: "bob", words: []string{"nc", "127.0.0.1", "1", "-w", "2"}, exit: 0, code: "OK", value: "object", keys: []string{"host", "port", "result"}},
		{as: "bob", words: []string{"nc", "--host", "127.0.0.1"}, exit: 100, code: "ERR_MISSING_PARAMETER", value: "null"},
		{as: "bob", words: []string{"alive", "127.0.0.1"}, exit: 0, code: "OK", value: "object", keys: []string{"waited_for"}},
		{as: "bob", words: []string{"mtr", "--report", "--report-cycles", "1", "127.0.0.1"}, exit: 0, code: "OK", value: "object"},
		{as: "gk", words: []string{"groupDestroy", "--group", "grp"}, stdin: "GRP\n", exit: 100, code: "ERR_OPERATOR_IS_DRUNK", value: "null"},
		{as: "gk", words: []string{"groupDestroy", "--group", "grp"}, stdin: "grp\n", exit: 0, code: "OK"},
		{as: "admin", words: []string{"groupCreate", "--group", "grp2", "--owner", "admin", "--no-key"}, exit: 0, code: "OK"},
		{as: "admin", words: []string{"groupDelete", "--group", "grp2", "--no-confirm"}, exit: 0, code: "OK"},
		{as: "admin", words: []string{"groupDelete", "--group", "grp2", "--no-confirm"}, exit: 100, code: "KO_GROUP_NOT_FOUND"},
		// Sessions.
		{as: "bob", words: []string{"selfListSessions", "--type", "ssh"}, exit: 0, code: "OK_EMPTY", value: "null"},
		{as: "bob", words: []string{"selfListSessions"}, exit: 0, code: "OK", value: "array"},
		{as: "admin", words: []string{"accountListSessions", "--account", "bob"}, exit: 0, code: "OK", value: "array"},
		{as: "bob", words: []string{"selfPlaySession", "--id", "nope"}, exit: 100, code: "ERR_NOT_FOUND"},
		{as: "admin", words: []string{"accountPlaySession", "--id", "nope"}, exit: 100, code: "ERR_NOT_FOUND"},
		{as: "bob", words: []string{"lock"}, exit: 0, code: "OK"},
		{as: "bob", words: []string{"unlock"}, exit: 0, code: "OK"},
		{as: "bob", words: []string{"batch"}, stdin: "info\n", exit: 0, code: "OK", value: "array"},
		{as: "bob", words: []string{"scp"}, exit: 0, code: "OK"},
		{as: "bob", words: []string{"sftp"}, exit: 0, code: "OK"},
		{as: "bob", words: []string{"rsync"}, exit: 0, code: "OK"},
		{as: "bob", words: []string{"selfSshConfig"}, exit: 0, code: "OK"},
		{as: "admin", words: []string{"adminMaintenance", "--lock", "--message", "'back soon'"}, exit: 0, code: "OK"},
		{as: "bob", words: []string{"info"}, exit: 118, code: "KO_MAINTENANCE_MODE", cmd: "null", value: "null"},
		{as: "admin", words: []string{"adminMaintenance", "--unlock"}, exit: 0, code: "OK"},
		// Deletion, last: the sentence, then KO_NOT_FOUND.
		{as: "admin", words: []string{"accountDelete", "--account", "tmp"}, stdin: "Yes, do as I say and delete tmp\n", exit: 100, code: "ERR_OPERATOR_IS_DRUNK", value: "null"},
		{as: "admin", words: []string{"accountDelete", "--account", "tmp"}, stdin: "Yes, do as I say and delete tmp, kthxbye\n", exit: 0, code: "OK", value: "object", keys: []string{"account"}},
		{as: "admin", words: []string{"accountDelete", "--account", "tmp", "--no-confirm"}, exit: 100, code: "KO_NOT_FOUND", value: "null"},
	}
	reg := app.NewRegistry()
	covered := map[string]bool{}
	for _, c := range reg.All() {
		rows = append(rows, contract{as: "admin", words: []string{c.Name, "--help"}, exit: 0, code: "OK", value: "null"})
	}
	for _, row := range rows {
		name := strings.Join(append([]string{row.as}, row.words...), " ")
		covered[row.words[0]] = covered[row.words[0]] || !slices.Contains(row.words, "--help")
		args := append([]string{"--json-greppable", "--osh"}, row.words...)
		var r testenv.Result
		if row.stdin != "" {
			r = b.SSHIn(strings.NewReader(row.stdin), keys[row.as], row.as, args...)
		} else {
			r = b.SSH(keys[row.as], row.as, args...)
		}
		checkContract(t, name, row, r)
	}
	var missing []string
	for _, c := range reg.All() {
		if !covered[c.Name] && helpOnly[c.Name] == "" {
			missing = append(missing, c.Name)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("commands without a contract row (add one, or a reason in helpOnly): %v", missing)
	}
}

func checkContract(t *testing.T, name string, row contract, r testenv.Result) {
	t.Helper()
	j := r.JSON()
	if j == nil {
		t.Errorf("%s: no JSON (exit %d)\n%s%s", name, r.Exit, r.Stdout, r.Stderr)
		return
	}
	fail := func(format string, a ...any) {
		t.Errorf("%s: "+format+"\n  got exit %d %v", append(append([]any{name}, a...), r.Exit, j)...)
	}
	if r.Exit != row.exit {
		fail("exit %d, want %d", r.Exit, row.exit)
	}
	if row.code != "" && j["error_code"] != row.code {
		fail("error_code %v, want %s", j["error_code"], row.code)
	}
	switch want := row.cmd; want {
	case "":
		if j["command"] != row.words[0] {
			fail("command %v, want %s", j["command"], row.words[0])
		}
	case "null":
		if j["command"] != nil {
			fail("command %v, want null", j["command"])
		}
	}
	v := j["value"]
	switch row.value {
	case "null":
		if v != nil {
			fail("value %v, want null", v)
		}
	case "array":
		if _, ok := v.([]any); !ok {
			fail("value is not an array")
		}
	case "object":
		m, ok := v.(map[string]any)
		if !ok {
			fail("value is not an object")
			return
		}
		for _, k := range row.keys {
			if _, ok := m[k]; !ok {
				fail("value lacks %q", k)
			}
		}
		if row.exact {
			allowed := map[string]bool{}
			for _, k := range row.keys {
				allowed[k] = true
			}
			for k := range m {
				// The role flags appear when true, the reason with always_active.
				if !allowed[k] && k != "is_admin" && k != "is_superowner" && k != "is_auditor" && k != "always_active_reason" {
					fail("value has %q, beyond %v", k, row.keys)
				}
			}
		}
	}
}

// fingerprint is the SHA256 fingerprint of a public key line, as ssh-keygen -l prints it.
func fingerprint(t *testing.T, pub string) string {
	t.Helper()
	k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(pub))
	if err != nil {
		t.Fatal(err)
	}
	return ssh.FingerprintSHA256(k)
}
