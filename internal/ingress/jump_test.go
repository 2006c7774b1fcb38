package ingress

import (
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"gatehouse/internal/access"
	"gatehouse/internal/egress"
	"gatehouse/internal/osh"
)

func tcpip(host string, port uint32) []byte {
	return ssh.Marshal(directTCPIP{Host: host, Port: port, OrigIP: "127.0.0.1", OrigPort: 1})
}

// TestParseJumpTarget: the host of a jump becomes a word of a command line, so only an IP
// address or a host name passes, with a port from 1 to 65535.
func TestParseJumpTarget(t *testing.T) {
	for _, c := range []struct {
		host string
		port uint32
		ok   bool
	}{
		{"10.0.0.5", 22, true}, {"db1.example.com", 2222, true}, {"::1", 22, true}, {"[::1]", 22, true},
		{"10.0.0.5", 0, false}, {"10.0.0.5", 65536, false}, {"", 22, false},
		{"10.0.0.0/24", 22, false}, {"*.example.com", 22, false}, {"a b", 22, false},
		{"host;id", 22, false}, {"-oProxyCommand=x", 22, false}, {"--osh", 22, false}, {"h'x", 22, false},
		{strings.Repeat("a", 300), 22, false}, {"a\x00b", 22, false},
	} {
		_, err := ParseJumpTarget(tcpip(c.host, c.port))
		if (err == nil) != c.ok {
			t.Errorf("ParseJumpTarget(%q, %d): %v", c.host, c.port, err)
		}
	}
	if _, err := ParseJumpTarget([]byte{1, 2}); err == nil {
		t.Error("a short payload was accepted")
	}
}

// TestJumpLineRoundTrip: the line an inner session runs names exactly the jump's target and
// user, and carries the command verbatim.
func TestJumpLineRoundTrip(t *testing.T) {
	for _, c := range []struct {
		user, host string
		port       int
		cmd        string
	}{
		{"root", "10.0.0.5", 22, ""},
		{"root", "::1", 2222, "scp -t /tmp"},
		{"git", "db1.example.com", 22, "git-upload-pack '/srv/repo.git'"},
		{"root", "10.0.0.5", 22, "--osh selfListSessions"},
		{"root", "10.0.0.5", 22, "-p 23 -- echo; rm -rf /"},
	} {
		line := JumpLine(c.user, JumpTarget{Host: c.host, Port: c.port}, c.cmd)
		r, err := osh.ParseLine(line)
		if err != nil || r.User != c.user || r.Host != c.host || r.Port != c.port || r.Command() != c.cmd || r.Osh != "" {
			t.Errorf("JumpLine %q parsed as %+v (%v)", line, r, err)
		}
	}
}

// FuzzJumpLine: for every valid user, target and command without NUL, the line parses back to
// the same target and command (no option of the bastion can be smuggled in).
func FuzzJumpLine(f *testing.F) {
	f.Add("root", "10.0.0.5", uint16(22), "ls -la")
	f.Add("git", "db1", uint16(2222), "--osh info")
	f.Add("u", "::1", uint16(1), "-- -p 1")
	f.Fuzz(func(t *testing.T, user, host string, port uint16, cmd string) {
		if access.ValidateRemoteUser(user, false) != nil || port == 0 || strings.ContainsRune(cmd, 0) {
			return
		}
		tgt, err := ParseJumpTarget(tcpip(host, uint32(port)))
		if err != nil {
			return
		}
		cmd = strings.TrimSpace(cmd)
		r, err := osh.ParseLine(JumpLine(user, tgt, cmd))
		if cmd != "" && err != nil {
			return // a command the grammar refuses (an open quote): refused, nothing runs
		}
		if err != nil || r.User != user || r.Host != tgt.Host || r.Port != tgt.Port || r.Osh != "" || r.Interactive {
			t.Fatalf("line for %q@%q:%d %q parsed as %+v (%v)", user, host, port, cmd, r, err)
		}
	})
}

// TestJumpHostCertificate: the inner host key is a host certificate for the target's name
// alone, signed by the jump CA, which a client checks as OpenSSH does.
func TestJumpHostCertificate(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	ca, _ := ssh.NewSignerFromKey(priv)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	j, err := NewJump(ca)
	if err != nil {
		t.Fatal(err)
	}
	j.Now = func() time.Time { return now }
	signer, err := j.hostSigner("db1")
	if err != nil {
		t.Fatal(err)
	}
	cert := signer.PublicKey().(*ssh.Certificate)
	checker := &ssh.CertChecker{
		IsHostAuthority: func(auth ssh.PublicKey, _ string) bool {
			return string(auth.Marshal()) == string(ca.PublicKey().Marshal())
		},
		Clock: func() time.Time { return now },
	}
	if err := checker.CheckCert("db1", cert); err != nil || cert.CertType != ssh.HostCert {
		t.Fatalf("certificate for db1: %v", err)
	}
	if err := checker.CheckCert("db2", cert); err == nil {
		t.Fatal("the certificate for db1 is valid for db2")
	}
	checker.Clock = func() time.Time { return now.Add(jumpCertLife + time.Minute) }
	if err := checker.CheckCert("db1", cert); err == nil {
		t.Fatal("an expired certificate is valid")
	}
	// Remade before it expires.
	j.Now = func() time.Time { return now.Add(jumpCertLife - 30*time.Minute) }
	again, _ := j.hostSigner("db1")
	if again.PublicKey().(*ssh.Certificate).ValidBefore <= cert.ValidBefore {
		t.Fatal("a certificate about to expire was served again")
	}
	if line := j.CertAuthorityLine("*"); !strings.HasPrefix(line, "@cert-authority * ssh-ed25519 ") {
		t.Fatalf("CA line %q", line)
	}
}

// TestJumpChannelRewrite: exec, shell and the sftp subsystem become the bastion's line for the
// jump's target; other subsystems, a NUL in the command and a second start are refused.
func TestJumpChannelRewrite(t *testing.T) {
	exec := func(c string) *ssh.Request {
		return &ssh.Request{Type: "exec", Payload: ssh.Marshal(struct{ Command string }{c})}
	}
	tgt := JumpTarget{Host: "10.0.0.5", Port: 22}
	for _, c := range []struct {
		name string
		reqs []*ssh.Request
		ok   []bool
		line string
		sub  string
	}{
		{"exec", []*ssh.Request{exec("id")}, []bool{true}, "root@10.0.0.5 -p 22 -- id", ""},
		{"shell", []*ssh.Request{{Type: "shell"}}, []bool{true}, "root@10.0.0.5 -p 22", ""},
		{"sftp", []*ssh.Request{{Type: "subsystem", Payload: ssh.Marshal(struct{ Name string }{"sftp"})}}, []bool{true}, "root@10.0.0.5 -p 22 -- subsystem sftp", "sftp"},
		{"other subsystem", []*ssh.Request{{Type: "subsystem", Payload: ssh.Marshal(struct{ Name string }{"netconf"})}}, []bool{false}, "", ""},
		{"NUL", []*ssh.Request{exec("cat /etc/passwd\x00")}, []bool{false}, "", ""},
		{"empty exec", []*ssh.Request{exec("")}, []bool{false}, "", ""},
		{"subsystem after exec", []*ssh.Request{exec("id"), {Type: "subsystem", Payload: ssh.Marshal(struct{ Name string }{"sftp"})}}, []bool{true, false}, "root@10.0.0.5 -p 22 -- id", ""},
	} {
		j := &jumpChannel{user: "root", target: tgt, sub: new(egress.Subsystem)}
		line := ""
		for i, r := range c.reqs {
			if got := j.rewrite(r); got != c.ok[i] {
				t.Errorf("%s: request %d accepted=%v", c.name, i, got)
			}
			if c.ok[i] && line == "" {
				var cmd struct{ Command string }
				_ = ssh.Unmarshal(r.Payload, &cmd)
				line = cmd.Command
				if r.Type != "exec" {
					t.Errorf("%s: rewritten as %s", c.name, r.Type)
				}
			}
		}
		if line != c.line || j.sub.Name() != c.sub {
			t.Errorf("%s: line %q sub %q", c.name, line, j.sub.Name())
		}
	}
}
