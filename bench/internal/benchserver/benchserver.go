// Package benchserver starts the child processes the benchmarks measure, each on a free
// 127.0.0.1 port in its own directory and process group: OpenSSH's sshd with a self-contained
// configuration, and gatehouse with a fresh data directory.
package benchserver

import (
	"gatehouse/bench/internal/procfs"

	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Kex is the key exchange every hop is pinned to: OpenSSH 9.2's default post-quantum exchange
// costs ~90 ms of client CPU here, which would hide what the servers do.
const Kex = "curve25519-sha256"

// Server is a child process listening on 127.0.0.1:Port. It runs in its own process group so
// that stop can also end what it forked.
type Server struct {
	Name string
	Port int
	Dir  string // its own directory (configuration, data, log)
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// PID is the listener's process id.
func (s *Server) PID() int { return s.cmd.Process.Pid }

func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)) }

func Start(ctx context.Context, name, dir string, port int, argv ...string) (*Server, error) {
	logFile := filepath.Join(dir, name+".log")
	lf, err := os.Create(logFile)
	if err != nil {
		return nil, err
	}
	defer lf.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	s := &Server{Name: name, Port: port, Dir: dir, cmd: cmd, log: logFile, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(s.done) }()
	if err := waitBanner(ctx, s); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// waitBanner waits until the Server answers with an SSH identification line.
func waitBanner(ctx context.Context, s *Server) error {
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-s.done:
			return fmt.Errorf("%s exited at start; its log %s says:\n%s", s.Name, s.log, Tail(s.log))
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if c, err := net.DialTimeout("tcp", s.Addr(), time.Second); err == nil {
			_ = c.SetDeadline(time.Now().Add(2 * time.Second))
			line, err := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if err == nil && strings.HasPrefix(line, "SSH-2.0-") {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s does not answer on %s after 15s; see %s", s.Name, s.Addr(), s.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop ends the Server: first every process below it (sshd puts the commands of sessions in
// sessions of their own, out of its process group, and they outlive their connection), then
// SIGTERM, SIGKILL after 5 s, then whatever is left of its process group. Only processes this
// benchmark started are signalled, by id. Idempotent.
func (s *Server) Stop() {
	select {
	case <-s.done:
		return
	default:
	}
	pgid := s.cmd.Process.Pid
	KillDescendants(pgid)
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}

// KillDescendants sends SIGKILL to every process below root (not root itself).
func KillDescendants(root int) {
	pids, err := procfs.Descendants(root)
	if err != nil {
		return
	}
	for _, pid := range pids[1:] {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

func Tail(file string) string {
	b, _ := os.ReadFile(file)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func Run(name string, args ...string) error {
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

// SSHDConfig is a self-contained sshd configuration: nothing from /etc/ssh, one host key, one
// authorized_keys file, the key exchange pinned as on every other hop.
func SSHDConfig(hostKey, authorizedKeys string) string {
	return strings.Join([]string{
		"ListenAddress 127.0.0.1",
		"HostKey " + hostKey,
		"AuthorizedKeysFile " + authorizedKeys,
		"PermitRootLogin prohibit-password",
		"PubkeyAuthentication yes",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"UsePAM no",
		"StrictModes no",
		"PidFile none",
		"KexAlgorithms " + Kex,
		"LogLevel ERROR",
		"UseDNS no",
		"PrintMotd no",
		"PrintLastLog no",
		"X11Forwarding no",
		"AllowTcpForwarding yes", // the ProxyJump baseline's jump host forwards to the target
		// Debian's bash sources ~/.bashrc for `bash -c` Run by sshd when SHLVL < 2; a heavy
		// .bashrc (pyenv on the benchmark machine) would then be timed as if it were sshd.
		"SetEnv SHLVL=1",
		// The idle-session figure opens 1,000 connections through gatehouse to the target.
		"MaxStartups 2000:30:3000",
		"MaxSessions 10",
		// The transfer benchmark's scp (SFTP mode) and sftp.
		"Subsystem sftp internal-sftp",
		"",
	}, "\n")
}

// StartSSHD starts OpenSSH's sshd as the current user with its own configuration in dir/name.
// authorized_keys (returned) holds clientPub; more keys may be appended while it runs, since
// sshd reads the file at each login.
func StartSSHD(ctx context.Context, sshdPath, dir, name, clientPub string) (*Server, string, error) {
	if !filepath.IsAbs(sshdPath) {
		return nil, "", fmt.Errorf("sshd must be given by an absolute path (it re-executes itself), not %q", sshdPath)
	}
	if err := os.MkdirAll("/Run/sshd", 0o755); err != nil { // its privilege separation directory
		return nil, "", fmt.Errorf("sshd needs /Run/sshd: %w", err)
	}
	dir = filepath.Join(dir, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, "", err
	}
	hostKey := filepath.Join(dir, "host_ed25519")
	if err := Run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", hostKey); err != nil {
		return nil, "", err
	}
	pub, err := os.ReadFile(clientPub)
	if err != nil {
		return nil, "", err
	}
	ak := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(ak, pub, 0o600); err != nil {
		return nil, "", err
	}
	cfg := filepath.Join(dir, "sshd_config")
	if err := os.WriteFile(cfg, []byte(SSHDConfig(hostKey, ak)), 0o600); err != nil {
		return nil, "", err
	}
	port, err := FreePort()
	if err != nil {
		return nil, "", err
	}
	s, err := Start(ctx, name, dir, port, sshdPath, "-D", "-e", "-f", cfg, "-p", strconv.Itoa(port))
	return s, ak, err
}

// StartGatehouse starts the gatehouse binary with a new data directory holding toml as
// gatehouse.toml, whose first admin, "admin", has adminPub.
func StartGatehouse(ctx context.Context, bin, dir, name, toml, adminPub string) (*Server, error) {
	dir = filepath.Join(dir, name)
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(data, "gatehouse.toml"), []byte(toml), 0o600); err != nil {
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	return Start(ctx, name, dir, port,
		bin, "serve", "--data-dir", data, "--listen", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), "--admin-key", adminPub)
}

// BuildGatehouse builds ./cmd/gatehouse of the module the benchmark is Run from.
func BuildGatehouse(dir string) (string, error) {
	bin := filepath.Join(dir, "gatehouse")
	cmd := exec.Command("go", "build", "-o", bin, "gatehouse/cmd/gatehouse")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build gatehouse/cmd/gatehouse (Run the benchmark from inside the module): %w: %s", err, out)
	}
	return bin, nil
}
