package config

import (
	"testing"
	"time"
)

const goodNotify = `
approvalListen = "127.0.0.1:0"
[plugin.groupList]
mfa_required = "webhook"
[notify]
codes = ["ops"]
approvals = ["ops", "dba"]
fallback = "totp"
[notify.channels.ops]
kind = "slack"
url_env = "GH_TEST_SLACK_URL"
timeout = "3s"
[notify.channels.dba]
kind = "generic"
url = "http://127.0.0.1:9/hook"
template = '{"code":"{{.code}}"}'
secret = "s3cret"
approver = "alice"
[notify.groups.dbas]
channels = ["dba"]
[notify.code]
digits = 8
ttl = "90s"
[notify.approval]
ttl = "2m"
four_eyes = true
approvers = ["alice"]
slack_signing_secret_env = "GH_TEST_SLACK_SECRET"
[notify.alerts]
channels = ["ops"]
kinds = ["admin_login", "access_refused"]
mfa_failure_threshold = 3
mfa_failure_window = "5m"
`

func TestParseNotify(t *testing.T) {
	t.Setenv("GH_TEST_SLACK_URL", "https://hooks.slack.test/services/T/B/x")
	t.Setenv("GH_TEST_SLACK_SECRET", "8f742231b10e8888abcd99yyyzzz85a5")
	c, err := Parse("n.toml", []byte(goodNotify))
	if err != nil {
		t.Fatal(err)
	}
	n := c.Notify
	if n.Channels["ops"].ResolvedURL() != "https://hooks.slack.test/services/T/B/x" || n.Channels["dba"].ResolvedSecret() != "s3cret" ||
		n.Approval.ResolvedSlackSigningSecret() == "" || !n.Approval.FourEyes || n.Code.Digits != 8 ||
		Duration(n.Code.TTL, 0) != 90*time.Second || Duration(n.Approval.TTL, 0) != 2*time.Minute ||
		n.Groups["dbas"].Channels[0] != "dba" || c.Plugin["groupList"].MFARequired != "webhook" || c.ApprovalListen != "127.0.0.1:0" {
		t.Fatalf("got %+v", n)
	}
}

func TestParseNotifyRefusals(t *testing.T) {
	t.Setenv("GH_TEST_EMPTY", "")
	for _, tc := range []struct {
		name, data string
		line       int
		reason     string
	}{
		{"unknown kind", "[notify.channels.a]\nkind = \"slack\"\nurl = \"https://x.test/\"\n[notify.channels.b]\nkind = \"irc\"\nurl = \"https://x.test/\"\n", 5, "must be one of slack"},
		{"no url", "[notify.channels.a]\nkind = \"slack\"\n", 1, "exactly one of url and url_env"},
		{"both urls", "[notify.channels.a]\nkind = \"slack\"\nurl = \"https://x.test/\"\nurl_env = \"X\"\n", 3, "exactly one"},
		{"empty env", "[notify.channels.a]\nkind = \"slack\"\nurl_env = \"GH_TEST_EMPTY\"\n", 3, "GH_TEST_EMPTY is empty"},
		{"not http", "[notify.channels.a]\nkind = \"slack\"\nurl = \"ftp://x.test/\"\n", 3, "not an http(s) URL"},
		{"bad timeout", "[notify.channels.a]\nkind = \"discord\"\nurl = \"https://x.test/\"\ntimeout = \"soon\"\n", 4, "not a duration"},
		{"generic without template", "[notify.channels.a]\nkind = \"generic\"\nurl = \"https://x.test/\"\n", 1, "needs a template"},
		{"template on slack", "[notify.channels.a]\nkind = \"slack\"\nurl = \"https://x.test/\"\ntemplate = \"{}\"\n", 4, "generic channels only"},
		{"unknown channel ref", "[notify]\ncodes = [\"nope\"]\n", 2, "no channel named \"nope\""},
		{"group ref", "[notify.channels.a]\nkind = \"slack\"\nurl = \"https://x.test/\"\n[notify.groups.g]\nchannels = [\"a\", \"b\"]\n", 5, "no channel named \"b\""},
		{"approvals need a listener", "[notify]\napprovals = [\"a\"]\n[notify.channels.a]\nkind = \"slack\"\nurl = \"https://x.test/\"\n", 2, "approvalListen"},
		{"digits", "[notify.code]\ndigits = 3\n", 2, "between 4 and 12"},
		{"ttl", "[notify.approval]\nttl = \"1s\"\n", 2, "between 10s"},
		{"fallback", "[notify]\nfallback = \"webhook\"\n", 2, "none, password, totp or any"},
		{"public url", "[notify.approval]\npublic_url = \"http://bastion.example/\"\n", 2, "https"},
		{"unidentified approval links", "approvalListen = \"127.0.0.1:0\"\n[notify]\napprovals = [\"a\"]\n[notify.channels.a]\nkind = \"ntfy\"\nurl = \"https://x.test/\"\n", 4, "cannot tell who clicks"},
		{"alert kind", "[notify.alerts]\nkinds = [\"admin_login\", \"coffee\"]\n", 2, "\"coffee\" must be one of"},
		{"route kind", "[notify.alerts.routes]\ncoffee = [\"a\"]\n", 2, "\"coffee\" must be one of"},
		{"route channel", "[notify.channels.a]\nkind = \"slack\"\nurl = \"https://x.test/\"\n[notify.alerts.routes]\nadmin_login = [\"a\"]\naccess_refused = [\"zz\"]\n", 6, "no channel named \"zz\""},
		{"unknown notify key", "[notify.code]\nlength = 6\n", 2, "unknown option"},
		{"plugin value", "[plugin.a]\nmfa_required = \"any\"\n[plugin.b]\nmfa_required = \"sms\"\n", 4, "webhook or approval"},
	} {
		t.Run(tc.name, func(t *testing.T) { expectRefusal(t, tc.data, tc.line, tc.reason) })
	}
}

// TestUnidentifiedApprovalChannel: every combination of channel kind, binding, four eyes,
// approver lists (global and per group), listener and console: a link channel bound to nobody
// is refused only when someone must be identified and no console can identify them.
func TestUnidentifiedApprovalChannel(t *testing.T) {
	for _, kind := range ChannelKinds {
		for _, bound := range []bool{false, true} {
			for _, fourEyes := range []bool{false, true} {
				for _, approvers := range []string{"", "global", "group"} {
					for _, listen := range []bool{false, true} {
						for _, console := range []bool{false, true} {
							n := Notify{Channels: map[string]NotifyChannel{"c": {Kind: kind}}, Groups: map[string]NotifyGroup{"g": {}}}
							n.Approval.FourEyes = fourEyes
							if bound {
								n.Channels["c"] = NotifyChannel{Kind: kind, Approver: "bob"}
							}
							switch approvers {
							case "global":
								n.Approval.Approvers = []string{"bob"}
								n.Approvals = []string{"c"}
							case "group":
								n.Groups["g"] = NotifyGroup{Channels: []string{"c"}, Approvers: []string{"bob"}}
							default:
								n.Approvals = []string{"c"}
							}
							want := ""
							if kind != "slack" && !bound && (fourEyes || approvers != "") && listen && !console {
								want = "c"
							}
							if got := n.UnidentifiedApprovalChannel(listen, console); got != want {
								t.Errorf("kind %s bound %v four eyes %v approvers %q listen %v console %v: %q, want %q",
									kind, bound, fourEyes, approvers, listen, console, got, want)
							}
						}
					}
				}
			}
		}
	}
}
