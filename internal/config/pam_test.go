package config

import (
	"strings"
	"testing"
)

func TestPAMConfig(t *testing.T) {
	const sum = "29d685d37a03fa4625fe81bbaae13504669deb907882a1df97b4238ca12ee509"
	const sum2 = "39d685d37a03fa4625fe81bbaae13504669deb907882a1df97b4238ca12ee509"
	server := func(name, s, extra string) string {
		return "[pam.servers." + name + "]\ntoken_sha256 = \"" + s + "\"\naddresses = [\"10.0.0.5\"]\n" + extra
	}
	for _, c := range []struct {
		name, toml, err string
	}{
		{"off", "", ""},
		{"on", "[pam]\nlisten = \"0.0.0.0:8443\"\n" + server("web1", sum, ""), ""},
		{"ttl", "[pam]\nlisten = \"127.0.0.1:8443\"\nticket_ttl = \"8h\"\n", ""},
		{"servers without listen", server("web1", sum, ""), "pam.listen"},
		{"bad listen", "[pam]\nlisten = \"nowhere\"\n", "pam.listen"},
		{"cert without key", "[pam]\nlisten = \"127.0.0.1:1\"\ntls_cert = \"/c\"\n", "tls_key go together"},
		{"ttl too long", "[pam]\nlisten = \"127.0.0.1:1\"\nticket_ttl = \"200h\"\n", "ticket_ttl"},
		{"ttl garbage", "[pam]\nlisten = \"127.0.0.1:1\"\nticket_ttl = \"soon\"\n", "ticket_ttl"},
		{"bad hash", "[pam]\nlisten = \"127.0.0.1:1\"\n" + server("web1", "abc", ""), "64 hex digits"},
		{"shared token", "[pam]\nlisten = \"127.0.0.1:1\"\n" + server("web1", sum, "") + server("web2", sum, ""), "each server has its own"},
		{"two servers", "[pam]\nlisten = \"127.0.0.1:1\"\n" + server("web1", sum, "") + server("web2", sum2, ""), ""},
		{"approval factor", "[pam]\nlisten = \"127.0.0.1:1\"\n" + server("web1", sum, "factor = \"approval\"\n"), ""},
		{"unknown factor", "[pam]\nlisten = \"127.0.0.1:1\"\n" + server("web1", sum, "factor = \"sms\"\n"), "test.toml:6: pam.servers.web1.factor: \"sms\": totp, webhook or approval"},
		{"rules", "[pam]\nlisten = \"127.0.0.1:1\"\n" + server("web1", sum, "factor = \"totp\"\n") +
			"[[pam.servers.web1.rule]]\ncommand = \"systemctl *\"\nfactor = \"approval\"\n[[pam.servers.web1.rule]]\nservice = \"login\"\nfactor = \"webhook\"\n", ""},
		{"rule without factor", "[pam]\nlisten = \"127.0.0.1:1\"\n" + server("web1", sum, "") +
			"[[pam.servers.web1.rule]]\ncommand = \"a\"\nfactor = \"totp\"\n[[pam.servers.web1.rule]]\ncommand = \"systemctl *\"\n", "test.toml:9: pam.servers.web1.rule[1].factor: \"\": totp, webhook or approval"},
		{"rule matching nothing said", "[pam]\nlisten = \"127.0.0.1:1\"\n" + server("web1", sum, "") +
			"[[pam.servers.web1.rule]]\nfactor = \"approval\"\n", "rule[0].command: a rule needs a command or a service"},
		{"rule bad service", "[pam]\nlisten = \"127.0.0.1:1\"\n" + server("web1", sum, "") +
			"[[pam.servers.web1.rule]]\nservice = \"su do\"\nfactor = \"approval\"\n", "rule[0].service"},
		{"rule unknown key", "[pam]\nlisten = \"127.0.0.1:1\"\n" + server("web1", sum, "") +
			"[[pam.servers.web1.rule]]\ncmd = \"x\"\nfactor = \"approval\"\n", "cmd"},
		{"webhook factor", "[pam]\nlisten = \"127.0.0.1:1\"\n" + server("web1", sum, "factor = \"webhook\"\n"), ""},
		{"no addresses", "[pam]\nlisten = \"127.0.0.1:1\"\n[pam.servers.web1]\ntoken_sha256 = \"" + sum + "\"\n", "at least one address"},
		{"bad name", "[pam]\nlisten = \"127.0.0.1:1\"\n" + server("\"we b\"", sum, ""), "server name"},
		{"unknown key", "[pam]\nlisten = \"127.0.0.1:1\"\nallow_all = true\n", "allow_all"},
	} {
		_, err := Parse("test.toml", []byte(c.toml))
		switch {
		case c.err == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s: err %v, want %q", c.name, err, c.err)
		}
	}
}

func TestPAMListenNeedsRestart(t *testing.T) {
	a, b := Default(), Default()
	b.PAM.Listen = "127.0.0.1:8443"
	if got := RestartNeeded(&a, &b); len(got) != 1 || !strings.Contains(got[0], "pam.listen") {
		t.Fatalf("RestartNeeded = %v", got)
	}
	c := b
	c.PAM.TicketTTL = "1h" // applies at once
	if got := RestartNeeded(&b, &c); len(got) != 0 {
		t.Fatalf("ticket_ttl needs no restart, got %v", got)
	}
}
