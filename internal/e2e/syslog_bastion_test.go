package e2e

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/audit/siemtest"
	"gatehouse/internal/testenv"
)

// syslogDaemon is a UDP syslog daemon on loopback: it keeps each message as the daemon's file
// would hold it (the <PRI> taken off).
type syslogDaemon struct {
	pc   net.PacketConn
	mu   sync.Mutex
	msgs []string
}

func startSyslog(t *testing.T) *syslogDaemon {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &syslogDaemon{pc: pc}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 65536)
		for {
			n, _, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			m := string(buf[:n])
			if i := strings.IndexByte(m, '>'); strings.HasPrefix(m, "<") && i > 0 {
				m = m[i+1:]
			}
			d.mu.Lock()
			d.msgs = append(d.msgs, m)
			d.mu.Unlock()
		}
	}()
	return d
}

// find waits until a line of msgtype whose fields hold want arrives, and returns its fields.
func (d *syslogDaemon) find(t *testing.T, msgtype string, want map[string]string) map[string]string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		d.mu.Lock()
		msgs := append([]string(nil), d.msgs...)
		d.mu.Unlock()
	next:
		for _, m := range msgs {
			mt, f, ok := siemtest.Parse(m)
			if !ok || mt != msgtype {
				continue
			}
			for k, v := range want {
				if f[k] != v {
					continue next
				}
			}
			return f
		}
		time.Sleep(20 * time.Millisecond)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	t.Fatalf("no %s line with %v among:\n%s", msgtype, want, strings.Join(d.msgs, "\n"))
	return nil
}

// TestSyslogBastionForm: with the default syslogFormat, a connection through gatehouse, a refused
// one, a --osh command and an account creation reach syslog as The Bastion's open / close /
// account lines, which a SIEM parser written from The Bastion's documentation reads: program tag
// "bastion:", the eight common fields, then every field of the type in its order.
func TestSyslogBastionForm(t *testing.T) {
	d := startSyslog(t)
	b := testenv.Start(t, testenv.Options{Config: fmt.Sprintf("syslogAddress = \"udp://%s\"\n", d.pc.LocalAddr())})
	sshd, aliceKey := targetSetup(t, b)
	port := fmt.Sprint(sshd.Port)
	if r := b.SSH(aliceKey, "alice", sshd.User+"@127.0.0.1", "-p", port, "exit 3"); r.Exit != 3 {
		t.Fatalf("connection: exit %d %s", r.Exit, r.Stderr)
	}
	if r := b.SSH(aliceKey, "alice", "root@127.0.0.2", "-p", port, "true"); r.Exit != 107 {
		t.Fatalf("refused connection: exit %d %s", r.Exit, r.Stderr)
	}
	b.MustOK("--osh", "accountCreate", "--account", "bob", "--no-key", "--osh-only")
	// The attack: a remote command that carries a newline and a whole forged line.
	forged := "true\nDec  2 10:00:00 gw bastion: open uniqid=\"forged\" account=\"root\""
	b.SSH(aliceKey, "alice", sshd.User+"@127.0.0.1", "-p", port, "--", forged)
	d.find(t, "close", map[string]string{"account": "alice", "params": forged})

	open := d.find(t, "open", map[string]string{"account": "alice", "cmdtype": "ssh", "allowed": "true", "user": sshd.User})
	if open["ip_to"] != "127.0.0.1" || open["port_to"] != port || open["ip_from"] != "127.0.0.1" || open["port_bastion"] != b.Port ||
		open["params"] != "exit 3" || open["version"] == "" {
		t.Errorf("open line: %v", open)
	}
	cl := d.find(t, "close", map[string]string{"account": "alice", "cmdtype": "ssh", "uniqid": open["uniqid"]})
	if cl["sysret"] != "3" || cl["duration"] == "" || cl["duration"] == "-1.000" {
		t.Errorf("close line: %v", cl)
	}
	d.find(t, "open", map[string]string{"account": "alice", "cmdtype": "ssh", "allowed": "false", "user": "root", "ip_to": "127.0.0.2"})
	d.find(t, "open", map[string]string{"account": "admin", "cmdtype": "osh", "plugin": "accountCreate", "allowed": "true"})
	osh := d.find(t, "close", map[string]string{"account": "admin", "cmdtype": "osh", "plugin": "accountCreate", "sysret": "0"})
	if osh["ip_from"] != "127.0.0.1" || osh["port_from"] == "" || osh["ip_bastion"] != "127.0.0.1" || osh["port_bastion"] != b.Port {
		t.Errorf("a command's close line lacks the addresses: %v", osh)
	}
	d.find(t, "account", map[string]string{"action": "create", "account": "bob", "osh_only": "true"})

	// The interactive mode: its own open and close (cmdtype interactive), and each command typed
	// there its own pair, as The Bastion's.
	term := b.SSHTerminal(b.AdminKey, "admin", 100, 30, "-i")
	off := term.Expect(0, "admin@", 10*time.Second)
	term.Send("groupList\r")
	term.Expect(off, "</groupList>", 5*time.Second)
	term.Send("exit\r")
	term.Wait(10 * time.Second)
	iopen := d.find(t, "open", map[string]string{"account": "admin", "cmdtype": "interactive", "allowed": "true"})
	d.find(t, "close", map[string]string{"account": "admin", "cmdtype": "interactive", "uniqid": iopen["uniqid"]})
	d.find(t, "close", map[string]string{"account": "admin", "cmdtype": "osh", "plugin": "groupList", "uniqid": iopen["uniqid"]})

	// Strictly, field for field, as a SIEM's per-type pattern.
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, m := range d.msgs {
		_, msg, _ := strings.Cut(m, " bastion: ")
		switch {
		case strings.HasPrefix(msg, "open "):
			if !siemtest.Open.MatchString(msg) {
				t.Errorf("open line not in The Bastion's order: %s", msg)
			}
		case strings.HasPrefix(msg, "close "):
			if !siemtest.Close.MatchString(msg) {
				t.Errorf("close line not in The Bastion's order: %s", msg)
			}
		}
		_, f, ok := siemtest.Parse(m)
		if !ok {
			t.Errorf("the SIEM does not read: %s", m)
		}
		if strings.ContainsAny(m, "\n\r") || f["uniqid"] == "forged" {
			t.Errorf("a forged line got through: %q", m)
		}
	}
}
