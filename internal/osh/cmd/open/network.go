package open

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/creack/pty"

	"gatehouse/internal/access"
	"gatehouse/internal/osh"
	"gatehouse/internal/probe"
	"gatehouse/internal/session"
)

// RegisterNetwork adds The Bastion's network plugins: ping, nc (a TCP port check), alive (wait
// until a host answers) and mtr. ping and mtr run the system's tools (Debian's iputils-ping and
// mtr-tiny), as The Bastion does; nc is a plain TCP connect, done natively. Every host is
// checked (CheckProbeHost) before anything runs, and the tools get it as one argument after
// "--", never through a shell.
func RegisterNetwork(r *osh.Registry) {
	hostOpt := osh.Option{Name: "host", Kind: osh.String, Help: "the host name or IP"}
	r.Add(
		&osh.Command{Name: "ping", Category: osh.Open, Summary: "ping a remote host from the bastion", Positional: []string{"host"},
			Options: []osh.Option{hostOpt,
				{Name: "c", Kind: osh.Int, Help: fmt.Sprintf("number of pings to send (1 to %d; default: until -w)", maxPingCount)},
				{Name: "s", Kind: osh.Int, Help: "packet size to send (1 to 9999)"},
				{Name: "t", Kind: osh.Int, Help: "TTL to set in the ICMP packet (1 to 255; default: the system's)"},
				{Name: "w", Kind: osh.Int, Help: fmt.Sprintf("exit unconditionally after this many seconds (default and max: %d)", maxProbeSeconds)},
			}, Run: ping},
		&osh.Command{Name: "nc", Category: osh.Open, Summary: "check whether a remote TCP port is open", Positional: []string{"host", "port"},
			Options: []osh.Option{{Name: "host", Kind: osh.String, Help: "host or IP to attempt to connect to"},
				{Name: "port", Kind: osh.String, Help: "TCP port to attempt to connect to"},
				{Name: "w", Kind: osh.Int, Help: "timeout in seconds (default: 3)"},
				{Name: "timeout", Kind: osh.Int, Help: "the same as -w"},
			}, Run: nc},
		&osh.Command{Name: "alive", Category: osh.Open, Summary: "ping a host and exit as soon as it answers", Positional: []string{"host"},
			Options: []osh.Option{{Name: "host", Kind: osh.String, Help: "host name or IP to ping"},
				{Name: "user", Kind: osh.String, Help: "accepted as The Bastion does (-u), plays no part in a ping"}}, Run: alive},
		&osh.Command{Name: "mtr", Category: osh.Open, Summary: "traceroute a host with mtr", Positional: []string{"host"},
			Options: []osh.Option{hostOpt,
				{Name: "report", Kind: osh.Flag, Help: "don't run mtr interactively, print a text report once done"},
				{Name: "report-cycles", Kind: osh.Int, Help: "with --report, the number of pings per hop (1 to 100, default: mtr's 10); a gatehouse addition"},
			}, Run: mtr},
	)
}

// Bounds of what a user may ask the network plugins: The Bastion's deadline bound (3600 s, the
// most FreeBSD's ping takes), and as many pings as fit in it at the default interval.
const (
	maxProbeSeconds = 3600
	maxPingCount    = maxProbeSeconds
)

// ProbeHostError is a host the network plugins refuse, with The Bastion's code.
type ProbeHostError struct {
	Code string // ERR_MISSING_PARAMETER, ERR_INVALID_PARAMETER or KO_INVALID_REMOTE_HOST
	Msg  string
}

func (e *ProbeHostError) Error() string { return e.Msg }

// CheckProbeHost decides whether host may be handed to ping, mtr or a TCP connect: one IP address
// or one host name (letters, digits, '-' and '.', no label starting with '-'), never a prefix
// ("Please use a single IP, not a subnet", as The Bastion) and never anything a tool could read
// as an option or a shell could read as syntax. It returns the host as the tools get it.
func CheckProbeHost(host string) (string, error) {
	if host == "" {
		return "", &ProbeHostError{Code: "ERR_MISSING_PARAMETER", Msg: "Missing required host parameter"}
	}
	invalid := &ProbeHostError{Code: "KO_INVALID_REMOTE_HOST", Msg: fmt.Sprintf("Remote host name '%s' seems invalid", clipHost(host))}
	// The Bastion's character check comes first, then the plugins' "no subnet".
	if strings.TrimLeft(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._/:-") != "" {
		return "", invalid
	}
	if strings.Contains(host, "/") {
		return "", &ProbeHostError{Code: "ERR_INVALID_PARAMETER", Msg: "Please use a single IP, not a subnet"}
	}
	h, err := access.ParseHost(host)
	if err != nil {
		return "", invalid
	}
	switch h.Kind {
	case access.HostIP:
		return h.Prefix.Addr().String(), nil
	case access.HostName:
		return h.Name, nil
	}
	return "", invalid
}

// clipHost keeps a refused host printable and short in the refusal.
func clipHost(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return '?'
		}
		return r
	}, s)
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return s
}

// probeHost checks the host given with --host (or as the first bare word).
func probeHost(c *osh.Call, host string) (string, *osh.Result) {
	h, err := CheckProbeHost(host)
	if err != nil {
		var pe *ProbeHostError
		errors.As(err, &pe)
		r := osh.Fail("", pe.Code, "%s", pe.Msg)
		if pe.Code != "KO_INVALID_REMOTE_HOST" {
			c.P.Block(osh.Usage(c.Cmd))
		}
		return "", &r
	}
	return h, nil
}

// PingOptions are ping's numeric options, as the user gave them (0: not given).
type PingOptions struct{ Count, Size, TTL, Deadline int }

// PingArgs checks ping's options and returns the tool's arguments for host; an option out of its
// range is refused with a sentence naming it, and nothing runs. There is always a deadline (the
// given one, else the maximum), so a ping never runs for months.
func PingArgs(o PingOptions, host string) ([]string, error) {
	for _, x := range []struct {
		flag      string
		v, lo, hi int
		what      string
	}{
		{"-c", o.Count, 1, maxPingCount, "the number of pings"},
		{"-s", o.Size, 1, 9999, "the packet size"},
		{"-t", o.TTL, 1, 255, "the TTL"},
		{"-w", o.Deadline, 1, maxProbeSeconds, "the deadline in seconds"},
	} {
		if x.v != 0 && (x.v < x.lo || x.v > x.hi) {
			return nil, fmt.Errorf("%s %d is out of range: %s must be from %d to %d", x.flag, x.v, x.what, x.lo, x.hi)
		}
	}
	args := []string{}
	if o.Count > 0 {
		args = append(args, "-c", strconv.Itoa(o.Count))
	}
	if o.Size > 0 {
		args = append(args, "-s", strconv.Itoa(o.Size))
	}
	if o.TTL > 0 {
		args = append(args, "-t", strconv.Itoa(o.TTL))
	}
	deadline := o.Deadline
	if deadline == 0 {
		deadline = maxProbeSeconds
	}
	return append(args, "-w", strconv.Itoa(deadline), "--", host), nil
}

var (
	pingSummary = regexp.MustCompile(`(?P<packets_transmitted>\d+) packets? transmitted, (?P<packets_received>\d+)( packets)? received, .*?(?P<packets_loss_percentage>\d+)(\.\d+)?% packet loss(, time (?P<ping_duration>\d+))?`)
	pingRTT     = regexp.MustCompile(`min/avg/max/(std|m)dev = (?P<min>[0-9.]+)/(?P<avg>[0-9.]+)/(?P<max>[0-9.]+)/(?P<mdev>[0-9.]+)`)
)

// ParsePingOutput reads ping's statistics lines into The Bastion's JSON keys (packets_transmitted,
// packets_received, packets_loss_percentage, ping_duration, min, avg, max, mdev), as strings, as
// its plugin returns them.
func ParsePingOutput(lines []string) map[string]any {
	out := map[string]any{}
	for _, l := range lines {
		for _, re := range []*regexp.Regexp{pingSummary, pingRTT} {
			m := re.FindStringSubmatch(l)
			if m == nil {
				continue
			}
			for i, name := range re.SubexpNames() {
				if name != "" && m[i] != "" {
					out[name] = m[i]
				}
			}
			break
		}
	}
	return out
}

func ping(ctx context.Context, c *osh.Call) osh.Result {
	host, r := probeHost(c, c.Args.String("host"))
	if r != nil {
		return *r
	}
	args, err := PingArgs(PingOptions{Count: c.Args.Int("c"), Size: c.Args.Int("s"), TTL: c.Args.Int("t"), Deadline: c.Args.Int("w")}, host)
	if err != nil {
		c.P.Block(osh.Usage(c.Cmd))
		return osh.Fail("", "ERR_INVALID_PARAMETER", "%v", err)
	}
	c.P.Line("Pinging %s...", host)
	status, stdout, r2 := runTool(ctx, c, "ping", "iputils-ping", args)
	if r2 != nil {
		return *r2
	}
	value := ParsePingOutput(stdout)
	value["sysret"], value["host"] = status, host
	return osh.OK("", value)
}

// ToolProcAttr is how the network tools run: when gatehouse runs as root, as nobody (65534)
// instead, so that none of what ping and mtr allow only root (a flood, mtr's interactive
// interval below a second) is within a user's reach; Debian gives both tools the one capability
// they need (cap_net_raw) themselves.
func ToolProcAttr(euid int) *syscall.SysProcAttr {
	if euid != 0 {
		return nil
	}
	return &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}}
}

// toolEnv is the environment the network tools run with: a fixed PATH and the C locale, so that
// their output reads the same on every bastion (ping's statistics are parsed).
var toolEnv = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C", "LC_ALL=C"}

// runTool runs a network tool, streaming what it prints into the command's output and keeping its
// standard output lines, and returns its exit status. The tool ends with the session (its
// context); a tool that is not installed is an error naming the package.
func runTool(ctx context.Context, c *osh.Call, name, pkg string, args []string) (int, []string, *osh.Result) {
	path, err := exec.LookPath(name)
	if err != nil {
		r := osh.Fail("", "ERR_EXEC_FAILED", "%s is not installed on this bastion (Debian package %s)", name, pkg)
		return 0, nil, &r
	}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env, cmd.SysProcAttr = toolEnv, ToolProcAttr(os.Geteuid())
	cmd.WaitDelay = 2 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		r := osh.Fail("", "ERR_EXEC_FAILED", "cannot run %s: %v", name, err)
		return 0, nil, &r
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		r := osh.Fail("", "ERR_EXEC_FAILED", "cannot run %s: %v", name, err)
		return 0, nil, &r
	}
	if err := cmd.Start(); err != nil {
		r := osh.Fail("", "ERR_EXEC_FAILED", "cannot run %s: %v", name, err)
		return 0, nil, &r
	}
	// Ctrl-C stops the tool as on The Bastion's terminal: ping then prints its statistics.
	defer onInterrupt(ctx, c.Sess, func() { _ = cmd.Process.Signal(syscall.SIGINT) })()
	var mu sync.Mutex // the printer is shared by the two streams
	var kept []string
	var wg sync.WaitGroup
	stream := func(rd io.Reader, keep bool) {
		defer wg.Done()
		sc := bufio.NewScanner(rd)
		sc.Buffer(make([]byte, 4096), 64*1024)
		for sc.Scan() {
			l := sc.Text()
			mu.Lock()
			c.P.Line("%s", l)
			if keep && len(kept) < maxKeptLines {
				kept = append(kept, l)
			}
			mu.Unlock()
		}
		_, _ = io.Copy(io.Discard, rd) // a line too long: drain, so the tool is not blocked
	}
	wg.Add(2)
	go stream(stdout, true)
	go stream(stderr, false)
	wg.Wait()
	err = cmd.Wait()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, kept, nil
	case ctx.Err() != nil:
		r := osh.Fail("", "ERR_INTERRUPTED", "%s was interrupted", name)
		return 0, kept, &r
	case errors.As(err, &ee):
		return ee.ExitCode(), kept, nil
	}
	r := osh.Fail("", "ERR_EXEC_FAILED", "%s failed: %v", name, err)
	return 0, kept, &r
}

// onInterrupt calls stop when the user interrupts: Ctrl-C typed on a pty (the session's input,
// borrowed: on a pty nothing else reads it while a tool runs; without a pty, or in a batch, the
// input is not the user's keyboard and is left alone), or a signal the client sends (INT, TERM,
// HUP). It returns the function that ends the watch.
func onInterrupt(ctx context.Context, s *session.Session, stop func()) (end func()) {
	ctx, cancel := context.WithCancel(ctx)
	var once sync.Once
	interrupt := func() { once.Do(stop) }
	release := func() {}
	if s.PTY && !s.InBatch && s.In != nil {
		var in io.Reader
		in, release = session.BorrowInput(s.In)
		go func() {
			buf := make([]byte, 256)
			for {
				n, err := in.Read(buf)
				for _, b := range buf[:n] {
					if b == 0x03 {
						interrupt()
					}
				}
				if err != nil {
					return
				}
			}
		}()
	}
	if s.Signals != nil {
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case sig, ok := <-s.Signals:
					if !ok {
						return
					}
					if sig == "INT" || sig == "TERM" || sig == "HUP" {
						interrupt()
					}
				}
			}
		}()
	}
	return func() { cancel(); release() }
}

// maxKeptLines bounds what a tool's output may hold in memory: ping prints one line a second for
// at most an hour, its statistics last.
const maxKeptLines = 2 * maxProbeSeconds

// NCResult is The Bastion's nc answer: "open", "closed", "timeout" or "unknown".
func NCResult(err error) string {
	switch {
	case err == nil:
		return "open"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "closed"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return "timeout"
	}
	return "unknown"
}

func nc(ctx context.Context, c *osh.Call) osh.Result {
	host, r := probeHost(c, c.Args.String("host"))
	if r != nil {
		return *r
	}
	if c.Args.String("port") == "" {
		c.P.Block(osh.Usage(c.Cmd))
		return osh.Fail("", "ERR_MISSING_PARAMETER", "Missing required port parameter")
	}
	port, err := strconv.Atoi(c.Args.String("port"))
	if err != nil || port < 1 || port > 65535 {
		c.P.Block(osh.Usage(c.Cmd))
		return osh.Fail("", "ERR_INVALID_PARAMETER", "Port must be numeric and 0 < port <= 65535")
	}
	if c.Args.Has("w") && c.Args.Has("timeout") {
		return osh.Fail("", "ERR_INVALID_PARAMETER", "-w and --timeout are the same option: give one")
	}
	timeout := 3
	for _, name := range []string{"w", "timeout"} {
		if c.Args.Has(name) {
			timeout = c.Args.Int(name)
		}
	}
	if timeout < 1 || timeout > maxProbeSeconds {
		return osh.Fail("", "ERR_INVALID_PARAMETER", "the timeout must be from 1 to %d seconds, got %d", maxProbeSeconds, timeout)
	}
	c.P.Line("Checking whether TCP port %d of %s is reachable...", port, host)
	dctx, cancel := context.WithTimeout(ctx, time.Duration(timeout)*time.Second)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(dctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err == nil {
		_ = conn.Close() // a probe: nothing was sent, nothing to report
	}
	if ctx.Err() != nil {
		return osh.Fail("", "ERR_INTERRUPTED", "the port check was interrupted")
	}
	answer := NCResult(err)
	switch answer {
	case "open":
		c.P.Line("Port %d is open", port)
	case "closed":
		c.P.Line("Port %d is closed", port)
	case "timeout":
		c.P.Line("Connection timed out")
	default:
		c.P.Line("Could not tell: %v", err)
	}
	return osh.OK("", map[string]any{"host": host, "port": port, "result": answer})
}

// maxAliveWait bounds alive: The Bastion loops until the user leaves; a session whose client
// vanished without closing its channel must still end one day.
const maxAliveWait = 24 * 3600

// aliveUser is the user@ The Bastion's alive accepts (and ignores) before the host.
var aliveUser = regexp.MustCompile(`^[a-zA-Z0-9_-]+@`)

func alive(ctx context.Context, c *osh.Call) osh.Result {
	h := c.Args.String("host")
	if aliveUser.MatchString(h) {
		// `--osh alive user@host`, as a Bastion user types it: the user plays no part in a ping.
		h = h[strings.IndexByte(h, '@')+1:]
	}
	host, r := probeHost(c, h)
	if r != nil {
		return *r
	}
	path, err := exec.LookPath("ping")
	if err != nil {
		return osh.Fail("", "ERR_EXEC_FAILED", "ping is not installed on this bastion (Debian package iputils-ping)")
	}
	c.P.Line("Waiting for %s to be alive...", host)
	w := probe.Waiter{Now: c.Now, Sleep: probe.SleepCtx, Max: maxAliveWait, Probe: func(ctx context.Context) bool {
		cmd := exec.CommandContext(ctx, path, "-c", "1", "-w", "1", "--", host)
		cmd.Env, cmd.SysProcAttr = toolEnv, ToolProcAttr(os.Geteuid())
		return cmd.Run() == nil
	}}
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer onInterrupt(ctx, c.Sess, cancel)() // Ctrl-C ends the wait
	waited, err := w.Wait(actx)
	if err != nil {
		return osh.Fail("", "ERR_INTERRUPTED", "%s did not answer (%v) after waiting for %d seconds", host, err, waited)
	}
	c.P.Line("Alive after waiting for %d seconds, exiting!", waited)
	return osh.OK("", map[string]any{"waited_for": waited})
}

func mtr(ctx context.Context, c *osh.Call) osh.Result {
	host, r := probeHost(c, c.Args.String("host"))
	if r != nil {
		return *r
	}
	cycles := c.Args.Int("report-cycles")
	if c.Args.Has("report-cycles") && (!c.Args.Has("report") || cycles < 1 || cycles > 100) {
		return osh.Fail("", "ERR_INVALID_PARAMETER", "--report-cycles goes with --report, from 1 to 100")
	}
	args := []string{"--show-ips", "--aslookup", "-n"}
	// mtr's curses display needs a terminal: without a pty, the report is all it can give.
	report := c.Args.Has("report") || !c.Sess.PTY
	if report {
		args = append(args, "--report")
		if cycles > 0 {
			args = append(args, "--report-cycles", strconv.Itoa(cycles))
		}
	} else {
		args = append(args, "--curses")
	}
	args = append(args, "--", host)
	c.P.Line("Tracing %s...", host)
	if report {
		if _, _, r := runTool(ctx, c, "mtr", "mtr-tiny", args); r != nil {
			return *r
		}
		return osh.OK("", map[string]any{})
	}
	if r := runOnPTY(ctx, c, "mtr", "mtr-tiny", args); r != nil {
		return *r
	}
	return osh.OK("", map[string]any{})
}

// runOnPTY runs a full-screen tool on a pseudo-terminal of the session's size, relaying the
// user's keys to it and its screen back, until it exits or the session ends.
func runOnPTY(ctx context.Context, c *osh.Call, name, pkg string, args []string) *osh.Result {
	path, err := exec.LookPath(name)
	if err != nil {
		r := osh.Fail("", "ERR_EXEC_FAILED", "%s is not installed on this bastion (Debian package %s)", name, pkg)
		return &r
	}
	s := c.Sess
	cmd := exec.CommandContext(ctx, path, args...)
	term := s.Term
	if term == "" {
		term = "xterm"
	}
	cmd.Env = append(append([]string{}, toolEnv...), "TERM="+term)
	cmd.SysProcAttr = ToolProcAttr(os.Geteuid())
	cmd.WaitDelay = 2 * time.Second
	f, err := pty.StartWithSize(cmd, &pty.Winsize{Cols: uint16(max(s.Cols, 1)), Rows: uint16(max(s.Rows, 1))})
	if err != nil {
		r := osh.Fail("", "ERR_EXEC_FAILED", "cannot run %s: %v", name, err)
		return &r
	}
	defer func() { _ = f.Close() }() // the command's output: its own error is what is reported
	out := s.RawOut
	if out == nil {
		out = s.Out
	}
	stdin, release := session.BorrowInput(s.In)
	defer release()
	go func() { _, _ = io.Copy(f, stdin) }() // ends with release or the session's input
	if s.Resize != nil {
		rctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go func() {
			for {
				select {
				case <-rctx.Done():
					return
				case sz, ok := <-s.Resize:
					if !ok {
						return
					}
					_ = pty.Setsize(f, &pty.Winsize{Cols: uint16(sz.Cols), Rows: uint16(sz.Rows)})
				}
			}
		}()
	}
	_, _ = io.Copy(out, f) // until the tool exits (EIO on the pty's master)
	_ = cmd.Wait()         // its status says nothing The Bastion reports: it answers OK
	return nil
}
