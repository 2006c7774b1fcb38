package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/testenv"
)

// needTool stops the test when a tool scripts/test.sh installs is missing (a failure in CI).
func needTool(t *testing.T, name, pkg string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		testenv.Need(t, "%s is not installed (Debian package %s)", name, pkg)
	}
}

// TestNetworkPing: `--osh ping` as a Bastion user types it (positional host, short options), its
// human lines and The Bastion's JSON keys, from the real ping against 127.0.0.1.
func TestNetworkPing(t *testing.T) {
	needTool(t, "ping", "iputils-ping")
	b := testenv.Start(t, testenv.Options{})
	key := b.CreateAccount("alice")
	for _, words := range [][]string{
		{"--osh", "ping", "-c", "2", "-w", "5", "127.0.0.1"},
		{"--osh", "ping", "--host", "127.0.0.1", "-c", "2", "-w", "5"},
	} {
		r := b.SSH(key, "alice", append([]string{"--json-greppable"}, words...)...)
		v, _ := r.JSON()["value"].(map[string]any)
		if r.Exit != 0 || r.Code() != "OK" || v == nil {
			t.Fatalf("%v: exit %d code %q\n%s%s", words, r.Exit, r.Code(), r.Stdout, r.Stderr)
		}
		if !strings.Contains(r.Stdout, "Pinging 127.0.0.1...") || !strings.Contains(r.Stdout, "2 packets transmitted") {
			t.Errorf("%v: human output lacks ping's lines:\n%s", words, r.Stdout)
		}
		if v["host"] != "127.0.0.1" || v["packets_transmitted"] != "2" || v["packets_received"] != "2" ||
			v["packets_loss_percentage"] != "0" || v["sysret"] != float64(0) || v["avg"] == nil || v["mdev"] == nil {
			t.Errorf("%v: value %v", words, v)
		}
	}
}

// TestNetworkPluginsRefuseBadInput: a host with shell syntax, an option in disguise, a subnet, a
// huge count or size are refused with a clear error, and nothing runs (no file is created by
// the would-be injection, no "Pinging" line).
func TestNetworkPluginsRefuseBadInput(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	key := b.CreateAccount("alice")
	canary := filepath.Join(t.TempDir(), "pwned")
	for _, tc := range []struct {
		words []string
		code  string
		msg   string
	}{
		{[]string{"--osh", "ping", "--host", fmt.Sprintf("'127.0.0.1;touch %s'", canary)}, "KO_INVALID_REMOTE_HOST", "seems invalid"},
		{[]string{"--osh", "ping", fmt.Sprintf("'$(touch %s)'", canary)}, "KO_INVALID_REMOTE_HOST", "seems invalid"},
		{[]string{"--osh", "ping", "127.0.0.1", "127.0.0.2"}, "ERR_BAD_OPTIONS", "unexpected argument"},
		{[]string{"--osh", "ping", "--host=-f"}, "KO_INVALID_REMOTE_HOST", "seems invalid"},
		{[]string{"--osh", "ping", "--host", "10.0.0.0/24"}, "ERR_INVALID_PARAMETER", "not a subnet"},
		{[]string{"--osh", "ping", "-c", "99999999", "127.0.0.1"}, "ERR_INVALID_PARAMETER", "out of range"},
		{[]string{"--osh", "ping", "-s", "70000", "127.0.0.1"}, "ERR_INVALID_PARAMETER", "out of range"},
		{[]string{"--osh", "ping", "-w", "0", "-c", "1", "127.0.0.1"}, "OK", ""}, // 0: not given, as The Bastion
		{[]string{"--osh", "ping"}, "ERR_MISSING_PARAMETER", "Missing required host parameter"},
		{[]string{"--osh", "nc", "--host", fmt.Sprintf("'a`touch %s`'", canary), "--port", "22"}, "KO_INVALID_REMOTE_HOST", "seems invalid"},
		{[]string{"--osh", "nc", "127.0.0.1", "70000"}, "ERR_INVALID_PARAMETER", "Port must be numeric"},
		{[]string{"--osh", "nc", "127.0.0.1"}, "ERR_MISSING_PARAMETER", "Missing required port parameter"},
		{[]string{"--osh", "nc", "127.0.0.1", "22", "-w", "100000"}, "ERR_INVALID_PARAMETER", "timeout"},
		{[]string{"--osh", "alive", "'|touch " + canary + "'"}, "KO_INVALID_REMOTE_HOST", "seems invalid"},
		{[]string{"--osh", "mtr", "--report", "--host", "'127.0.0.1 && touch " + canary + "'"}, "KO_INVALID_REMOTE_HOST", "seems invalid"},
		{[]string{"--osh", "mtr", "--report", "--report-cycles", "1000", "127.0.0.1"}, "ERR_INVALID_PARAMETER", "--report-cycles"},
	} {
		r := b.SSH(key, "alice", append([]string{"--json-greppable"}, tc.words...)...)
		if r.Code() != tc.code || !strings.Contains(r.Stdout, tc.msg) {
			t.Errorf("%v: code %q exit %d, want %s with %q\n%s", tc.words, r.Code(), r.Exit, tc.code, tc.msg, r.Stdout)
		}
		if tc.code != "OK" && (r.Exit != 100 || strings.Contains(r.Stdout, "Pinging") || strings.Contains(r.Stdout, "Checking whether")) {
			t.Errorf("%v: exit %d (want 100), or the tool ran:\n%s", tc.words, r.Exit, r.Stdout)
		}
	}
	if _, err := os.Stat(canary); err == nil {
		t.Fatal("an injected command ran")
	}
}

// TestNetworkNC: the port check answers open for a listening port and closed for a refused one,
// with The Bastion's JSON (port a number) and lines.
func TestNetworkNC(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	key := b.CreateAccount("alice")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	open := ln.Addr().(*net.TCPAddr).Port
	cl, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := cl.Addr().(*net.TCPAddr).Port
	cl.Close()
	for _, tc := range []struct {
		words  []string
		port   int
		result string
		line   string
	}{
		{[]string{"--osh", "nc", "127.0.0.1", fmt.Sprint(open)}, open, "open", fmt.Sprintf("Port %d is open", open)},
		{[]string{"--osh", "nc", "--host", "127.0.0.1", "--port", fmt.Sprint(closed), "-w", "2"}, closed, "closed", fmt.Sprintf("Port %d is closed", closed)},
	} {
		r := b.SSH(key, "alice", append([]string{"--json-greppable"}, tc.words...)...)
		v, _ := r.JSON()["value"].(map[string]any)
		if r.Exit != 0 || v["result"] != tc.result || v["port"] != float64(tc.port) || v["host"] != "127.0.0.1" {
			t.Errorf("%v: exit %d value %v\n%s", tc.words, r.Exit, v, r.Stdout)
		}
		if !strings.Contains(r.Stdout, fmt.Sprintf("Checking whether TCP port %d of 127.0.0.1 is reachable...", tc.port)) || !strings.Contains(r.Stdout, tc.line) {
			t.Errorf("%v: lines missing:\n%s", tc.words, r.Stdout)
		}
	}
}

// TestNetworkAlive: alive returns as soon as the host answers, with The Bastion's line and JSON.
func TestNetworkAlive(t *testing.T) {
	needTool(t, "ping", "iputils-ping")
	b := testenv.Start(t, testenv.Options{})
	key := b.CreateAccount("alice")
	for _, host := range []string{"127.0.0.1", "root@127.0.0.1"} { // The Bastion takes user@host too
		r := b.SSH(key, "alice", "--json-greppable", "--osh", "alive", host)
		v, _ := r.JSON()["value"].(map[string]any)
		if r.Exit != 0 || v["waited_for"] != float64(0) || !strings.Contains(r.Stdout, "Waiting for 127.0.0.1 to be alive...") ||
			!strings.Contains(r.Stdout, "Alive after waiting for 0 seconds, exiting!") {
			t.Fatalf("alive %s: exit %d value %v\n%s%s", host, r.Exit, v, r.Stdout, r.Stderr)
		}
	}
}

// TestNetworkMTR: the report mode prints mtr's table; on a pty mtr runs full screen and leaves on
// q, as on The Bastion.
func TestNetworkMTR(t *testing.T) {
	needTool(t, "mtr", "mtr-tiny")
	b := testenv.Start(t, testenv.Options{})
	key := b.CreateAccount("alice")
	r := b.SSH(key, "alice", "--json-greppable", "--osh", "mtr", "--report", "--report-cycles", "1", "127.0.0.1")
	if r.Exit != 0 || r.Code() != "OK" || !strings.Contains(r.Stdout, "Tracing 127.0.0.1...") || !strings.Contains(r.Stdout, "Loss%") {
		t.Fatalf("mtr --report: exit %d\n%s%s", r.Exit, r.Stdout, r.Stderr)
	}
	if v, ok := r.JSON()["value"].(map[string]any); !ok || len(v) != 0 {
		t.Errorf("value %v, want {}", r.JSON()["value"])
	}
	term := b.SSHTerminal(key, "alice", 100, 30, "--osh", "mtr", "127.0.0.1")
	defer term.Close()
	off := term.Expect(0, "Tracing 127.0.0.1...", 10*time.Second)
	term.Expect(off, "Packets", 15*time.Second)
	term.Send("q")
	if code := term.Wait(15 * time.Second); code != 0 {
		t.Fatalf("mtr on a pty: exit %d\n%s", code, term.Output())
	}
}

// TestNetworkToolsNotRoot: a gatehouse running as root runs ping (and mtr) as nobody, so a user
// cannot reach what these tools allow root only (the attack: ask for a flood-like ping, then
// look at who the process runs as).
func TestNetworkToolsNotRoot(t *testing.T) {
	needTool(t, "ping", "iputils-ping")
	if os.Geteuid() != 0 {
		testenv.Need(t, "running the tools as nobody is only done when gatehouse runs as root (CI runs as root)")
	}
	b := testenv.Start(t, testenv.Options{})
	key := b.CreateAccount("alice")
	done := make(chan testenv.Result, 1)
	go func() { done <- b.SSH(key, "alice", "--osh", "ping", "-c", "3", "-w", "7", "-s", "1400", "127.0.0.1") }()
	want := "ping\x00-c\x003\x00-s\x001400\x00-w\x007\x00--\x00127.0.0.1\x00"
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
		for _, p := range procs {
			cmdline, err := os.ReadFile(p)
			if err != nil || !strings.HasSuffix(string(cmdline), want) {
				continue
			}
			status, err := os.ReadFile(filepath.Join(filepath.Dir(p), "status"))
			if err != nil {
				continue
			}
			for _, l := range strings.Split(string(status), "\n") {
				if strings.HasPrefix(l, "Uid:") && strings.Fields(l)[1] != "65534" {
					t.Fatalf("ping runs as %s", l)
				}
			}
			if r := <-done; r.Exit != 0 {
				t.Fatalf("ping as nobody: exit %d\n%s%s", r.Exit, r.Stdout, r.Stderr)
			}
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no ping process seen: %+v", <-done)
}

// TestNetworkPingCtrlC: a ping without a count stops on Ctrl-C typed in the terminal and still
// answers with its statistics, as on The Bastion (where the terminal sends it SIGINT).
func TestNetworkPingCtrlC(t *testing.T) {
	needTool(t, "ping", "iputils-ping")
	b := testenv.Start(t, testenv.Options{})
	key := b.CreateAccount("alice")
	term := b.SSHTerminal(key, "alice", 100, 30, "--osh", "ping", "127.0.0.1")
	defer term.Close()
	off := term.Expect(0, "Pinging 127.0.0.1...", 10*time.Second)
	off = term.Expect(off, "icmp_seq=2", 10*time.Second)
	term.Send("\x03")
	term.Expect(off, "packets transmitted", 10*time.Second)
	if code := term.Wait(10 * time.Second); code != 0 {
		t.Fatalf("exit %d after Ctrl-C\n%s", code, term.Output())
	}
}

// TestNetworkPluginsCanBeDisabled: an operator who does not want port checks from the bastion
// turns them off as any plugin; nothing is dialled.
func TestNetworkPluginsCanBeDisabled(t *testing.T) {
	b := testenv.Start(t, testenv.Options{Config: "[plugin.nc]\ndisabled = true\n[plugin.ping]\ndisabled = true\n"})
	key := b.CreateAccount("alice")
	for _, cmd := range [][]string{{"nc", "127.0.0.1", "22"}, {"ping", "-c", "1", "127.0.0.1"}} {
		r := b.SSH(key, "alice", append([]string{"--json-greppable", "--osh"}, cmd...)...)
		if r.Exit != 106 || r.Code() != "KO_PLUGIN_DISABLED" || strings.Contains(r.Stdout, "Checking whether") || strings.Contains(r.Stdout, "Pinging") {
			t.Errorf("%v disabled: exit %d %s\n%s", cmd, r.Exit, r.Code(), r.Stdout)
		}
	}
}
