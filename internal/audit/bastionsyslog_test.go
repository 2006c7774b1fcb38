package audit

import (
	"strings"
	"testing"
	"time"

	"gatehouse/internal/audit/siemtest"
)

var testBastion = BastionSyslog{Version: "0.1.0", PID: 4242, PPID: 1, SysUser: "gatehouse", UID: 998, GID: 997}

const head = `uniqid="u1" version="0.1.0" pid="4242" ppid="1" sysuser="alice" sudo_user="" uid="998" gid="997"`

func TestBastionSyslogLines(t *testing.T) {
	conn := Fields{UniqID: "u1", Account: "alice", CmdType: "ssh", Allowed: Bool(true), IPFrom: "192.0.2.1", PortFrom: 51000,
		IPBastion: "192.0.2.10", PortBastion: 22, User: "root", IPTo: "10.0.0.1", PortTo: 22, HostTo: "srv1", Params: []string{"uptime"}}
	access := ` account="alice" cmdtype="ssh" allowed="true" ip_from="192.0.2.1" port_from="51000" host_from="192.0.2.1" ip_bastion="192.0.2.10" port_bastion="22" host_bastion="192.0.2.10" user="root" ip_to="10.0.0.1" port_to="22" host_to="srv1" plugin="" globalsql="no" accountsql="no" comment="" params="uptime" proxyuser="" proxyip="" proxyhost="" proxyport=""`
	closed := conn
	closed.ExitStatus, closed.Duration, closed.Extra = Int(0), 43.6921, map[string]string{"comment_close": "idle_kill"}
	denied := conn
	denied.Allowed, denied.Comment, denied.Params = Bool(false), "KO_ACCESS_DENIED", nil
	osh := Fields{UniqID: "u1", Account: "alice", CmdType: "osh", Plugin: "accountCreate", Allowed: Bool(true), IPFrom: "192.0.2.1",
		Params: []string{"--account", "bob", "--osh-only", "--comment", `say "hi"` + "\n"}, Result: "OK", ExitStatus: Int(0)}
	oshHead := ` account="alice" cmdtype="osh" allowed="true" ip_from="192.0.2.1" port_from="" host_from="192.0.2.1" ip_bastion="" port_bastion="" host_bastion="" user="" ip_to="" port_to="" host_to="" plugin="accountCreate" globalsql="no" accountsql="no" comment="" params="--account bob --osh-only --comment say \"hi\"\x0a" proxyuser="" proxyip="" proxyhost="" proxyport=""`
	refused := Fields{UniqID: "u1", Account: "alice", CmdType: "osh", Plugin: "accountDelete", Allowed: Bool(false),
		Result: "KO_RESTRICTED_COMMAND", ExitStatus: Int(106)}
	for _, tc := range []struct {
		name string
		ev   Event
		want []string
	}{
		{"connection open", Event{Type: TypeConnectionOpen, Fields: conn}, []string{"open " + head + access}},
		{"connection close", Event{Type: TypeConnectionClose, Fields: closed},
			[]string{"close " + head + access + ` sysret="0" signal="" comment_close="idle_kill" duration="43.692" accountsql_close="no"`}},
		{"connection denied", Event{Type: "connection.denied", Fields: denied},
			[]string{"open " + head + strings.Replace(strings.Replace(access, `allowed="true"`, `allowed="false"`, 1), `comment="" params="uptime"`, `comment="KO_ACCESS_DENIED" params=""`, 1)}},
		{"osh command: open, close, account", Event{Type: TypeAccountChange, Fields: osh}, []string{
			"open " + head + oshHead,
			"close " + head + oshHead + ` sysret="0" signal="" comment_close="" duration="-1.000" accountsql_close="no"`,
			"account " + head + ` action="create" account="bob" account_uid="" public_key="" always_active="false" uid_auto="false" osh_only="true" immutable_key="false" comment="say \"hi\"\x0a"`,
		}},
		{"osh command refused", Event{Type: TypeOshCommand, Fields: refused}, []string{
			"open " + head + ` account="alice" cmdtype="osh" allowed="false" ip_from="" port_from="" host_from="" ip_bastion="" port_bastion="" host_bastion="" user="" ip_to="" port_to="" host_to="" plugin="accountDelete" globalsql="no" accountsql="no" comment="" params="" proxyuser="" proxyip="" proxyhost="" proxyport=""`,
			"close " + head + ` account="alice" cmdtype="osh" allowed="false" ip_from="" port_from="" host_from="" ip_bastion="" port_bastion="" host_bastion="" user="" ip_to="" port_to="" host_to="" plugin="accountDelete" globalsql="no" accountsql="no" comment="" params="" proxyuser="" proxyip="" proxyhost="" proxyport="" sysret="106" signal="" comment_close="KO_RESTRICTED_COMMAND" duration="-1.000" accountsql_close="no"`,
		}},
		{"ssh-as", Event{Type: TypeSecurity, Fields: Fields{UniqID: "u1", Account: "alice", Plugin: "ssh",
			Params: []string{"--user", "root", "--host", "10.0.0.1", "--port", "22"}, Extra: map[string]string{"type": "admin-ssh-as", "sudo-as": "bob"}}},
			[]string{"security " + head + ` type="admin-ssh-as" account="alice" sudo-as="bob" plugin="ssh" params="--user root --host 10.0.0.1 --port 22"`}},
		{"group server added", Event{Type: TypeGroupChange, Fields: Fields{UniqID: "u1", Account: "alice", CmdType: "osh", Plugin: "groupAddServer",
			Params: []string{"--group", "g1", "--host", "10.0.0.0/24", "--user", "root", "--port", "22"}, Result: "OK", ExitStatus: Int(0)}}, nil},
		{"other types keep theirs", Event{Type: TypeMFAFail, Fields: Fields{UniqID: "u1", Account: "alice", Factor: "totp", Result: "fail"}},
			[]string{`mfa.fail uniqid="u1" version="0.1.0" pid="4242" ppid="1" sysuser="gatehouse" sudo_user="" uid="998" gid="997" account="alice" factor="totp" result="fail"`}},
		{"no uniqid", Event{Type: TypeAuditCheckpoint, Fields: Fields{Extra: map[string]string{"seq": "3", "hash": "ab"}}},
			[]string{`audit.checkpoint uniqid="-" version="0.1.0" pid="4242" ppid="1" sysuser="gatehouse" sudo_user="" uid="998" gid="997" hash="ab" seq="3"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := testBastion.Lines(tc.ev)
			if tc.want == nil { // only check the acl line's presence
				if len(got) != 3 || !strings.HasPrefix(got[2], "acl ") || !strings.Contains(got[2], ` action="add" type="group" group="g1" account="" user="root" ip="10.0.0.0/24" port="22" ttl="" force_key="" comment=""`) {
					t.Fatalf("got %q", got)
				}
				return
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// TestBastionSyslogSIEM: every line, once through the daemon ("Mmm dd hh:mm:ss host " added to
// what SyslogWriter sends), matches the SIEM's regexps, and values with quotes, backslashes and
// control characters come back whole.
func TestBastionSyslogSIEM(t *testing.T) {
	when := time.Date(2026, 12, 2, 9, 5, 7, 0, time.Local)
	ev := Event{Type: TypeConnectionClose, Fields: Fields{UniqID: "u1", Account: "alice", Allowed: Bool(true), IPFrom: "192.0.2.1",
		User: "root", IPTo: "10.0.0.1", PortTo: 22, Params: []string{`echo "a\b"` + "\x1b[0m\n"}, ExitStatus: Int(3), Duration: 1.5}}
	for _, l := range testBastion.Lines(ev) {
		msg := FormatRFC3164(23<<3|6, when, "bastion1", "bastion", l)
		daemon := strings.TrimPrefix(msg, "<190>")
		mt, f, ok := siemtest.Parse(daemon)
		if !ok || mt != "close" || !siemtest.Close.MatchString(l) {
			t.Fatalf("the SIEM does not read %q", daemon)
		}
		if f["params"] != `echo "a\b"`+"\x1b[0m\n" || f["sysret"] != "3" || f["duration"] != "1.500" || f["allowed"] != "true" {
			t.Errorf("fields read back: %v", f)
		}
	}
	if got := FormatRFC3164(190, when, "", "bastion", "a\nforged"); got != "<190>Dec  2 09:05:07 bastion: a forged" {
		t.Errorf("local message %q", got)
	}
}

// FuzzBastionSyslogLine: whatever a user puts in a field, the line stays one line the SIEM reads,
// with the same value back.
func FuzzBastionSyslogLine(f *testing.F) {
	for _, s := range []string{"", "a\"b", `\`, "x\ny\rz\x00", `\x41`, "é ü", `" forged="1`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l := testBastion.Lines(Event{Type: TypeConnectionOpen, Fields: Fields{UniqID: "u1", Account: "alice", Params: []string{s}}})[0]
		if strings.ContainsAny(l, "\n\r") || !siemtest.Open.MatchString(l) {
			t.Fatalf("line %q", l)
		}
		_, fields, ok := siemtest.Parse("Dec  2 09:05:07 h bastion: " + l)
		if !ok || fields["params"] != s {
			t.Fatalf("params %q read back as %q", s, fields["params"])
		}
	})
}

// TestBastionSyslogSessionEvents: a session's own open and close (gatehouse's recording events)
// keep their type unless the session is the interactive mode, which The Bastion logs itself.
func TestBastionSyslogSessionEvents(t *testing.T) {
	for _, tc := range []struct {
		typ, cmdtype, plugin, want string
	}{
		{"session.open", "osh", "info", "session.open "},
		{"session.close", "ssh", "", "session.close "},
		{"session.open", "interactive", "", "open "},
		{"session.close", "interactive", "", "close "},
	} {
		l := testBastion.Lines(Event{Type: tc.typ, Fields: Fields{UniqID: "u1", Account: "alice", CmdType: tc.cmdtype, Plugin: tc.plugin}})
		if len(l) != 1 || !strings.HasPrefix(l[0], tc.want) {
			t.Errorf("%s %s: %q", tc.typ, tc.cmdtype, l)
		}
	}
}

// BenchmarkBastionSyslogClose: formatting one connection's close line (the longest common one).
func BenchmarkBastionSyslogClose(b *testing.B) {
	ev := Event{Type: TypeConnectionClose, Fields: Fields{UniqID: "9f1c2b3a4d5e6f708192a3b4", Account: "alice", CmdType: "ssh", Allowed: Bool(true),
		IPFrom: "192.0.2.1", PortFrom: 51000, IPBastion: "192.0.2.10", PortBastion: 22, User: "root", IPTo: "10.0.0.1", PortTo: 22,
		HostTo: "srv1.example.org", Params: []string{"uptime"}, ExitStatus: Int(0), Duration: 43.7, BytesIn: 100, BytesOut: 4096}}
	b.ReportAllocs()
	for b.Loop() {
		_ = testBastion.Lines(ev)
	}
}
