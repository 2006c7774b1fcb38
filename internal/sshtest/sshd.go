// Package sshtest starts a real OpenSSH sshd on a loopback port for tests,
// running as the current user with its own config, host key and
// authorized_keys file in a temporary directory.
//
// Lifecycle: StartSSHD registers a cleanup that kills the sshd (by its own
// process id) and waits for it; if the test failed, sshd's log is printed.
// Nothing outside the temp directory is written, except /run/sshd (sshd's
// privilege separation directory) when running as root.
package sshtest

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// SSHDPath is where the tests expect OpenSSH's server (sshd re-executes
// itself, so it needs an absolute path).
const SSHDPath = "/usr/sbin/sshd"

// SSHD is a running sshd.
type SSHD struct {
	Addr           string        // "127.0.0.1:PORT"
	Host           string        // "127.0.0.1"
	Port           int           //
	User           string        // the current user, the only one who can log in
	AuthorizedKeys string        // path of the authorized_keys file sshd reads
	HostKey        ssh.PublicKey // the server's ed25519 host key
	HostKeyPath    string        // its private half (to restart with the same or another key)
	Dir            string        // temp directory holding config, keys and log

	mu  sync.Mutex
	log *bytes.Buffer
}

// Options change the generated sshd_config.
type Options struct {
	// KexAlgorithms pins the key exchange (benchmarks use curve25519-sha256).
	KexAlgorithms string
	// Extra sshd_config lines; they take precedence over the defaults.
	Extra []string
	// Program is the sshd to run (default SSHDPath), by absolute path. A symlink to sshd under
	// another name makes that name sshd's PAM service (/etc/pam.d/NAME), for tests of a PAM
	// stack that must not touch the system's /etc/pam.d/sshd.
	Program string
}

// StartSSHD starts sshd with default options.
func StartSSHD(t testing.TB) *SSHD { return StartSSHDWith(t, Options{}) }

// StartSSHDWith starts sshd with opts. It fails the test if sshd does not
// answer within a few seconds.
func StartSSHDWith(t testing.TB, opts Options) *SSHD {
	t.Helper()
	u, err := user.Current()
	if err != nil {
		t.Fatalf("sshtest: current user: %v", err)
	}
	if os.Geteuid() == 0 {
		// sshd refuses to start as root without its privilege separation directory.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			t.Fatalf("sshtest: %v", err)
		}
	}
	dir := t.TempDir()
	s := &SSHD{
		Host:           "127.0.0.1",
		User:           u.Username,
		AuthorizedKeys: filepath.Join(dir, "authorized_keys"),
		HostKeyPath:    filepath.Join(dir, "ssh_host_ed25519_key"),
		Dir:            dir,
		log:            &bytes.Buffer{},
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "sshtest host key")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.HostKeyPath, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	if s.HostKey, err = ssh.NewPublicKey(pub); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.AuthorizedKeys, nil, 0o600); err != nil {
		t.Fatal(err)
	}

	cfg := filepath.Join(dir, "sshd_config")
	if err := os.WriteFile(cfg, []byte(s.config(opts, true)), 0o600); err != nil {
		t.Fatal(err)
	}
	// Newer OpenSSH penalises sources that fail auth (tests do on purpose);
	// older ones do not know the option, so keep it only if sshd accepts it.
	if out, err := exec.Command(SSHDPath, "-t", "-f", cfg).CombinedOutput(); err != nil {
		if !strings.Contains(string(out), "PerSourcePenalties") {
			t.Fatalf("sshtest: sshd -t: %v\n%s", err, out)
		}
		if err := os.WriteFile(cfg, []byte(s.config(opts, false)), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	prog := SSHDPath
	if opts.Program != "" {
		prog = opts.Program
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		if lastErr = s.start(t, prog, cfg); lastErr == nil {
			return s
		}
	}
	t.Fatalf("sshtest: sshd did not start: %v\n%s", lastErr, s.Log())
	return nil
}

func (s *SSHD) config(opts Options, penalties bool) string {
	// sshd keeps the first value of a keyword, so options go first.
	var lines []string
	if opts.KexAlgorithms != "" {
		lines = append(lines, "KexAlgorithms "+opts.KexAlgorithms)
	}
	lines = append(lines, opts.Extra...)
	lines = append(lines,
		"ListenAddress 127.0.0.1",
		"HostKey "+s.HostKeyPath,
		"AuthorizedKeysFile "+s.AuthorizedKeys,
		"PidFile none",
		"UsePAM no",
		"StrictModes no",
		"PubkeyAuthentication yes",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"PermitRootLogin prohibit-password",
		"AcceptEnv LANG LC_*",
		"MaxStartups 1000",
		"MaxSessions 1000",
		"LogLevel VERBOSE",
		"Subsystem sftp internal-sftp",
	)
	if penalties {
		lines = append(lines, "PerSourcePenalties no")
	}
	return strings.Join(lines, "\n") + "\n"
}

// start picks a free port and runs sshd on it; it returns an error when
// sshd exits early (typically: the port was taken in between).
func (s *SSHD) start(t testing.TB, prog, cfg string) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()

	cmd := exec.Command(prog, "-D", "-e", "-f", cfg, "-p", strconv.Itoa(port))
	// Its own process group, so cleanup also stops the per-connection sshd
	// processes it forked (they hold its log pipe); and if the test binary
	// dies (a timeout panic skips cleanups), the kernel kills the listener
	// (where the OS can: proc_*.go).
	cmd.SysProcAttr = sysProcAttr()
	cmd.WaitDelay = 2 * time.Second
	cmd.Stdout = lockedWriter{s}
	cmd.Stderr = lockedWriter{s}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	addr := net.JoinHostPort(s.Host, strconv.Itoa(port))
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("sshd exited: %v", err)
		default:
		}
		if answers(addr) {
			s.Addr, s.Port = addr, port
			t.Cleanup(func() {
				killGroup(cmd.Process)
				<-exited
				if t.Failed() {
					t.Logf("sshd log:\n%s", s.Log())
				}
			})
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	killGroup(cmd.Process)
	<-exited
	return fmt.Errorf("sshd did not answer on %s", addr)
}

// answers reports whether an SSH server greets on addr.
func answers(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	buf := make([]byte, 4)
	n, _ := c.Read(buf)
	return string(buf[:n]) == "SSH-"
}

// Authorize appends an authorized_keys line (options allowed, e.g. a
// from="…" prefix) for the test user.
func (s *SSHD) Authorize(t testing.TB, line string) {
	t.Helper()
	f, err := os.OpenFile(s.AuthorizedKeys, os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(strings.TrimSpace(line) + "\n"); err != nil {
		t.Fatal(err)
	}
}

// AuthorizeKey authorizes pub without options.
func (s *SSHD) AuthorizeKey(t testing.TB, pub ssh.PublicKey) {
	t.Helper()
	s.Authorize(t, string(ssh.MarshalAuthorizedKey(pub)))
}

// Log returns what sshd has written so far.
func (s *SSHD) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

type lockedWriter struct{ s *SSHD }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	return w.s.log.Write(p)
}
