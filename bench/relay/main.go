// Command relay measures gatehouse as a relay to targets (issue 3, Performance) and the cost of
// session recording (issue 6, Performance), with the real OpenSSH client against a real OpenSSH
// sshd, in the same run as two baselines:
//
//	go run ./bench/relay [-n 30] [-bulk-runs 3] [-bulk-mib 512] [-sessions 1000]
//
// Routes, all to the same target sshd on 127.0.0.1, as root:
//   - direct: ssh straight to the target;
//   - proxyjump: OpenSSH's ProxyJump (-J) through a second, plain sshd;
//   - gatehouse: ssh to gatehouse as alice, who has a personal access to the target
//     (`ssh -p GH alice@127.0.0.1 -- root@127.0.0.1 -p TPORT CMD`). Gatehouses run side by
//     side, differing only in recording (-variants): gatehouse (the default format, s2 chunks),
//     asciicast, ttyrec, and stealth: the default format with ttyrecStealthStdoutPattern matching
//     the bulk command (its output is not recorded: "recording off").
//
// Figures: connect and run `true` (-n alternating runs per route); bulk output of -bulk-mib MiB
// from `head -c N /dev/zero` (-bulk-runs alternating runs per route); the PSS of one fresh
// gatehouse before and after -sessions concurrent idle relayed sessions opened with the Go client,
// -sessions-per-conn on each client connection; with -go-target (a light Go target instead of
// sshd) every session must echo a line back through gatehouse after the measurement.
// Every hop pins the key exchange to curve25519-sha256; ciphers are each side's defaults.
//
// Every process it starts is ended on return, on error, on SIGINT/SIGTERM and at -timeout.
package main

import (
	"gatehouse/bench/internal/stats"

	"gatehouse/bench/internal/benchserver"
	"gatehouse/bench/internal/lighttarget"

	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
)

const kex = benchserver.Kex

type options struct {
	runs, warmup       int   // connect
	idleKill           int   // idle: idleKillTimeout in seconds (0: none)
	bulkRuns           int   // bulk
	bulkMiB            int64 //
	bulkText           bool  // text lines instead of NUL bytes
	bulkData           string
	variants           string
	sessions, parallel int // idle sessions
	perConn            int // idle: session channels on each client connection
	settle             time.Duration
	sleep              int // seconds the idle sessions' command sleeps
	hold               time.Duration
	waves              int
	phases             string
	perf               bool
	cipher             string // Ciphers for the OpenSSH client on every hop; "" its default
	gatehouse, sshd    string
	keep, verbose      bool
	timeout            time.Duration
	store              string // postgres:// URL: also measure gatehouse on a PostgreSQL store
	goTarget           bool   // idle: the light Go SSH target instead of OpenSSH's sshd
}

func main() {
	var o options
	flag.IntVar(&o.runs, "n", 30, "connect: timed runs per route, alternating")
	flag.IntVar(&o.warmup, "warmup", 3, "connect: untimed runs per route first")
	flag.IntVar(&o.bulkRuns, "bulk-runs", 3, "bulk: timed runs per route, alternating")
	flag.Int64Var(&o.bulkMiB, "bulk-mib", 512, "bulk: MiB of output per run (head -c N /dev/zero on the target)")
	flag.BoolVar(&o.bulkText, "bulk-text", false, "bulk: output 79-column text lines (tr and fold over /dev/zero) instead of NUL bytes; the size then grows by the newlines")
	flag.StringVar(&o.bulkData, "bulk-data", "zero", "bulk: what the target outputs: zero (head -c N /dev/zero), random (a file of N random bytes), base64 (base64 -w 76 of random bytes, N bytes in all), log (N bytes of synthetic syslog lines); files are made in the temp dir and sent with cat")
	flag.StringVar(&o.variants, "variants", "gatehouse,asciicast,ttyrec,stealth", "bulk: recording variants of gatehouse to run, comma-separated (gatehouse, asciicast, ttyrec, stealth)")
	flag.IntVar(&o.sessions, "sessions", 1000, "idle: concurrent relayed sessions on one gatehouse")
	flag.IntVar(&o.parallel, "parallel", 16, "idle: connections being opened at once")
	flag.IntVar(&o.perConn, "sessions-per-conn", 1, "idle: session channels opened on each client connection, as OpenSSH's ControlMaster carries them (each its own relay, egress connection, recording and audit; at most gatehouse's maxSessions, 10 by default)")
	flag.IntVar(&o.sleep, "sleep", 600, "idle: seconds the target command sleeps (the sessions are ended before)")
	flag.IntVar(&o.waves, "waves", 2, "idle: open, measure and end the sessions this many times (each wave against the fresh process)")
	flag.DurationVar(&o.settle, "settle", 2*time.Second, "idle: wait this long after the last session opened before measuring (Go's GC shrinks idle stacks at each cycle, forced every 2 minutes: 5m gives the steady state)")
	flag.DurationVar(&o.hold, "hold", 0, "idle: keep the sessions open this long after measuring (to look at gatehouse with other tools); with -phases connect alone: keep the servers up this long before measuring, and print the ssh command lines")
	flag.StringVar(&o.phases, "phases", "connect,bulk,idle", "what to measure, comma-separated")
	flag.BoolVar(&o.perf, "perf", false, "bulk: after the timed runs, one more run per gatehouse under `perf record`, and its top symbols")
	flag.StringVar(&o.cipher, "cipher", "", "Ciphers option of the OpenSSH client on every hop (default: its own list, which puts chacha20-poly1305 first)")
	flag.StringVar(&o.gatehouse, "gatehouse", "", "gatehouse binary (default: go build gatehouse/cmd/gatehouse into the temp dir)")
	flag.StringVar(&o.sshd, "sshd", "/usr/sbin/sshd", "OpenSSH sshd, absolute path")
	flag.BoolVar(&o.keep, "keep", false, "keep the temp dir (logs, configs, perf data)")
	flag.BoolVar(&o.verbose, "v", false, "also print every run")
	flag.DurationVar(&o.timeout, "timeout", 12*time.Minute, "stop everything after this long")
	flag.StringVar(&o.store, "store", "", "connect, idle: also run a gatehouse on a fresh database of this PostgreSQL server (a postgres:// URL of a role that may create databases; $GATEHOUSE_TEST_POSTGRES from scripts/postgres.sh), beside the SQLite one")
	flag.IntVar(&o.idleKill, "idle-kill", 0, "idle: set gatehouse's idleKillTimeout to this many seconds and idleLockTimeout to half of it (0: none, gatehouse's default), so that each session's idle watch is measured too; longer than the bench")
	flag.BoolVar(&o.goTarget, "go-target", false, "idle: relay to a light SSH target written in Go (bench/internal/lighttarget, in this process) instead of OpenSSH's sshd, which forks two processes per session")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	if err := bench(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "relay:", err)
		cancel()
		stop()
		os.Exit(1) // deferred stops ran inside bench
	}
}

// env is what every phase uses: the servers and the keys.
type env struct {
	o         options
	dir, bin  string
	sshConfig string // the OpenSSH client's configuration file, shared by every route
	userKey   string // private key file: root on target and jump host, alice on gatehouse
	userPub   string
	user      ssh.Signer
	admin     ssh.Signer
	adminPub  string // file
	target    *benchserver.Server
	targetAK  string
	jump      *benchserver.Server
	gh        map[string]*benchserver.Server // by recording variant
	bulkFile  string                         // the file the target cats (-bulk-data), "" for /dev/zero
	light     *lighttarget.Server            // idle: the light Go target (-go-target)
	metrics   string                         // idle: the measured gatehouse's /metrics URL
	w         io.Writer
}

// Recording variants of the gatehouses under test.
const (
	recGatehouse = "gatehouse"
	recAsciicast = "asciicast"
	recTtyrec    = "ttyrec"
	recStealth   = "stealth"
	recPostgres  = "postgres" // the default recording, on a PostgreSQL store (-store)
)

// storeConfig puts a gatehouse on the PostgreSQL database dsn.
func storeConfig(dsn string) string { return fmt.Sprintf("store = %q\nnode = \"bench\"\n", dsn) }

// stealthPattern is ttyrecStealthStdoutPattern for the stealth variant: the bulk command. The
// pattern must match the whole command, and a command with shell syntax (the -bulk-text pipe)
// is never stealth, so only the plain `head -c N /dev/zero` runs unrecorded.
const stealthPattern = "head -c [0-9]+ /dev/zero|cat /[-/A-Za-z0-9_.]+/bulk-[a-z0-9]+[.]dat"

func bench(ctx context.Context, o options, w io.Writer) (err error) {
	phases := map[string]bool{}
	for _, p := range strings.Split(o.phases, ",") {
		switch p = strings.TrimSpace(p); p {
		case "connect", "bulk", "idle":
			phases[p] = true
		case "":
		default:
			return fmt.Errorf("-phases: unknown phase %q (connect, bulk, idle)", p)
		}
	}
	if o.runs < 1 || o.bulkRuns < 1 || o.bulkMiB < 1 || o.sessions < 1 || o.parallel < 1 || o.waves < 1 || o.perConn < 1 {
		return fmt.Errorf("-n, -bulk-runs, -bulk-mib, -sessions, -sessions-per-conn, -parallel and -waves must be at least 1")
	}
	if err := raiseNoFile(); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "gatehouse-relay-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Fprintln(w, "temp dir:", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	e := &env{o: o, dir: dir, gh: map[string]*benchserver.Server{}, w: w}
	if phases["bulk"] {
		if e.bulkFile, err = makeBulkFile(dir, o.bulkData, o.bulkMiB<<20); err != nil {
			return err
		}
	}
	e.userKey = filepath.Join(dir, "user_ed25519")
	adminKey := filepath.Join(dir, "admin_ed25519")
	for _, k := range []string{e.userKey, adminKey} {
		if err := benchserver.Run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", filepath.Base(k), "-f", k); err != nil {
			return err
		}
	}
	e.adminPub = adminKey + ".pub"
	if e.user, err = loadSigner(e.userKey); err != nil {
		return err
	}
	if e.admin, err = loadSigner(adminKey); err != nil {
		return err
	}
	pub, err := os.ReadFile(e.userKey + ".pub")
	if err != nil {
		return err
	}
	e.userPub = string(pub)
	if e.bin = o.gatehouse; e.bin == "" {
		if e.bin, err = benchserver.BuildGatehouse(dir); err != nil {
			return err
		}
	}
	e.sshConfig = filepath.Join(dir, "ssh_config")
	if err := os.WriteFile(e.sshConfig, []byte(clientSSHConfig(e.userKey, o.cipher)), 0o600); err != nil {
		return err
	}

	if e.target, e.targetAK, err = benchserver.StartSSHD(ctx, o.sshd, dir, "target-sshd", e.userKey+".pub"); err != nil {
		return err
	}
	defer e.target.Stop()
	if e.jump, _, err = benchserver.StartSSHD(ctx, o.sshd, dir, "jump-sshd", e.userKey+".pub"); err != nil {
		return err
	}
	defer e.jump.Stop()
	for _, v := range []struct{ name, format, stealth string }{
		{recGatehouse, "", ""},
		{recAsciicast, "asciicast", ""},
		{recTtyrec, "ttyrec", ""},
		{recStealth, "", stealthPattern},
	} {
		if v.name != recGatehouse && (!phases["bulk"] || !e.variant(v.name)) {
			continue
		}
		gh, err := e.startGatehouse(ctx, "gatehouse-"+v.name, gatehouseConfig(v.format, v.stealth))
		if err != nil {
			return err
		}
		defer gh.Stop()
		e.gh[v.name] = gh
	}

	if o.store != "" && phases["connect"] {
		dsn, drop, err := benchserver.FreshPostgres(ctx, o.store)
		if err != nil {
			return err
		}
		defer drop()
		gh, err := e.startGatehouse(ctx, "gatehouse-"+recPostgres, gatehouseConfig("", "")+storeConfig(dsn))
		if err != nil {
			return err
		}
		defer gh.Stop()
		e.gh[recPostgres] = gh
	}

	fmt.Fprint(w, stats.Machine())
	if o.hold > 0 && phases["connect"] && !phases["idle"] {
		// -hold with only the connect phase: leave the servers up to be looked at by hand.
		for _, r := range []route{e.direct(), e.viaGatehouse(recGatehouse)} {
			fmt.Fprintf(w, "%s: ssh %s\n", r.name, strings.Join(r.args("true"), " "))
		}
		fmt.Fprintf(w, "gatehouse pid %d, target sshd pid %d; holding %v\n", e.gh[recGatehouse].PID(), e.target.PID(), o.hold)
		select {
		case <-ctx.Done():
		case <-time.After(o.hold):
		}
	}
	var rep report
	if phases["connect"] {
		if rep.connect, err = e.connectPhase(ctx); err != nil {
			return fmt.Errorf("connect: %w", err)
		}
		rep.printConnect(w, o)
	}
	if phases["bulk"] {
		if rep.bulk, err = e.bulkPhase(ctx); err != nil {
			return fmt.Errorf("bulk: %w", err)
		}
		rep.printBulk(w, o)
		if o.perf {
			if err := e.perfPhase(ctx); err != nil {
				return fmt.Errorf("perf: %w", err)
			}
		}
	}
	if phases["idle"] {
		if rep.idle, err = e.idlePhase(ctx); err != nil {
			return fmt.Errorf("idle: %w", err)
		}
		rep.printIdle(w, o)
	}
	return nil
}

// startGatehouse starts one gatehouse with configuration toml and sets alice up on it.
func (e *env) startGatehouse(ctx context.Context, name, toml string) (*benchserver.Server, error) {
	gh, err := benchserver.StartGatehouse(ctx, e.bin, e.dir, name, toml, e.adminPub)
	if err != nil {
		return nil, err
	}
	if err := setupAlice(ctx, gh, e.admin, e.user, e.userPub, e.target.Port, e.targetAK); err != nil {
		gh.Stop()
		return nil, err
	}
	return gh, nil
}

// clientSSHConfig is the OpenSSH client's configuration for every route. It is a file, not -o
// options, because ssh passes -F (but not -o) on to the ssh it starts for the ProxyJump hop.
func clientSSHConfig(key, cipher string) string {
	lines := []string{
		"Host *",
		"  IdentityFile " + key,
		"  IdentitiesOnly yes",
		"  BatchMode yes",
		"  ControlMaster no",
		"  ControlPath none",
		"  StrictHostKeyChecking no",
		"  UserKnownHostsFile /dev/null",
		"  LogLevel ERROR",
		"  KexAlgorithms " + kex,
		"  HostKeyAlgorithms ssh-ed25519",
	}
	if cipher != "" {
		lines = append(lines, "  Ciphers "+cipher)
	}
	return strings.Join(append(lines, ""), "\n")
}

// route is one way of reaching the target with the OpenSSH client.
type route struct {
	name string
	gh   *benchserver.Server // the gatehouse it goes through, if any
	args func(command ...string) []string
}

func (e *env) direct() route {
	return route{name: "direct", args: func(c ...string) []string {
		return append([]string{"-F", e.sshConfig, "-p", strconv.Itoa(e.target.Port), "root@127.0.0.1"}, c...)
	}}
}

func (e *env) proxyJump() route {
	return route{name: "proxyjump", args: func(c ...string) []string {
		return append([]string{"-F", e.sshConfig, "-J", "root@127.0.0.1:" + strconv.Itoa(e.jump.Port),
			"-p", strconv.Itoa(e.target.Port), "root@127.0.0.1"}, c...)
	}}
}

func (e *env) viaGatehouse(variant string) route {
	gh := e.gh[variant]
	return route{name: "gatehouse-" + variant, gh: gh, args: func(c ...string) []string {
		return append([]string{"-F", e.sshConfig, "-p", strconv.Itoa(gh.Port), "alice@127.0.0.1", "--",
			"root@127.0.0.1", "-p", strconv.Itoa(e.target.Port)}, c...)
	}}
}

func loadSigner(key string) (ssh.Signer, error) {
	b, err := os.ReadFile(key)
	if err != nil {
		return nil, err
	}
	return ssh.ParsePrivateKey(b)
}

// raiseNoFile raises the soft limit on open files to the hard limit, for this process and the
// servers it starts (an explicit Setrlimit is inherited by children, unlike Go's own raise).
func raiseNoFile() error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("raise RLIMIT_NOFILE: %w", err)
	}
	return nil
}
