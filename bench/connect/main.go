// Command connect measures gatehouse's login round trip and idle memory against OpenSSH's sshd,
// both started by this program on 127.0.0.1 in the same run (issue 2, Performance):
//
//	go run ./bench/connect [-n 50] [-conns 300]
//
// Round trip: the wall time from starting the real ssh client to reading the JSON_OUTPUT line of
// `--osh info` from gatehouse, beside `ssh … true` against sshd (until ssh exits). Runs alternate
// so that noise from other load on the machine falls on both. The key exchange is pinned to
// curve25519-sha256 and the host key to ssh-ed25519 on both sides.
//
// Memory: the PSS of the server (for sshd, of its listener and every process below it) before and
// after opening -conns idle authenticated connections (handshake and public key auth done, no
// channel), divided by -conns.
//
// Every process it starts is ended on return, on error and on SIGINT/SIGTERM.
package main

import (
	"errors"
	"gatehouse/bench/internal/benchserver"

	"gatehouse/bench/internal/stats"

	"gatehouse/bench/internal/procfs"

	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
)

const kex = benchserver.Kex

type options struct {
	runs, warmup, conns, parallel int
	gatehouse, sshd               string
	keep, verbose                 bool
}

func main() {
	var o options
	flag.IntVar(&o.runs, "n", 50, "timed runs against each server")
	flag.IntVar(&o.warmup, "warmup", 5, "untimed runs against each server first")
	flag.IntVar(&o.conns, "conns", 300, "idle authenticated connections for the memory figure")
	flag.IntVar(&o.parallel, "parallel", 8, "connections being opened at once for the memory figure")
	flag.StringVar(&o.gatehouse, "gatehouse", "", "gatehouse binary (default: go build gatehouse/cmd/gatehouse into the temp dir)")
	flag.StringVar(&o.sshd, "sshd", "/usr/sbin/sshd", "OpenSSH sshd, absolute path")
	flag.BoolVar(&o.keep, "keep", false, "keep the temp dir (logs, configs)")
	flag.BoolVar(&o.verbose, "v", false, "also print every timed round trip, sorted")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := bench(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "connect:", err)
		os.Exit(1)
	}
}

// target is one server under test and how to log in to it.
type target struct {
	srv     *benchserver.Server
	user    string
	command []string // the remote command line
	json    bool     // wait for JSON_OUTPUT (gatehouse) rather than only the exit
}

func bench(ctx context.Context, o options, w io.Writer) error {
	if o.runs < 1 || o.conns < 1 || o.parallel < 1 {
		return fmt.Errorf("-n, -conns and -parallel must be at least 1")
	}
	dir, err := os.MkdirTemp("", "gatehouse-bench-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Fprintln(w, "temp dir:", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	key := filepath.Join(dir, "client_ed25519")
	if err := benchserver.Run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bench", "-f", key); err != nil {
		return err
	}
	bin := o.gatehouse
	if bin == "" {
		if bin, err = benchserver.BuildGatehouse(dir); err != nil {
			return err
		}
	}
	me, err := user.Current()
	if err != nil {
		return err
	}
	sshd, _, err := benchserver.StartSSHD(ctx, o.sshd, dir, "sshd", key+".pub")
	if err != nil {
		return err
	}
	defer sshd.Stop()
	gh, err := benchserver.StartGatehouse(ctx, bin, dir, "gatehouse-server", "", key+".pub")
	if err != nil {
		return err
	}
	defer gh.Stop()

	base := target{srv: sshd, user: me.Username, command: []string{"true"}}
	ours := target{srv: gh, user: "admin", command: []string{"--", "--json-greppable", "--osh", "info"}, json: true}

	for i := 0; i < o.warmup; i++ {
		for _, t := range []target{base, ours} {
			if _, err := login(ctx, t, key); err != nil {
				return fmt.Errorf("warm-up: %w", err)
			}
		}
	}
	time.Sleep(300 * time.Millisecond) // let sshd reap the warm-up connections
	ghCPU0, err := procfs.CPUTicks(gh.PID())
	if err != nil {
		return err
	}
	sshdCPU0, err := procfs.CPUTicks(sshd.PID())
	if err != nil {
		return err
	}
	var baseRuns, ourRuns []sample
	for i := 0; i < o.runs; i++ {
		for _, t := range []target{base, ours} {
			s, err := login(ctx, t, key)
			if err != nil {
				return fmt.Errorf("run %d: %w", i+1, err)
			}
			if t.json {
				ourRuns = append(ourRuns, s)
			} else {
				baseRuns = append(baseRuns, s)
			}
		}
	}
	time.Sleep(500 * time.Millisecond) // until sshd has reaped every connection of the runs
	ghCPU1, err := procfs.CPUTicks(gh.PID())
	if err != nil {
		return err
	}
	sshdCPU1, err := procfs.CPUTicks(sshd.PID())
	if err != nil {
		return err
	}

	signer, err := loadSigner(key)
	if err != nil {
		return err
	}
	ghMem, err := idleMemory(ctx, ours, signer, o)
	if err != nil {
		return fmt.Errorf("gatehouse memory: %w", err)
	}
	sshdMem, err := idleMemory(ctx, base, signer, o)
	if err != nil {
		return fmt.Errorf("sshd memory: %w", err)
	}

	report(w, o, reportData{
		base: baseRuns, ours: ourRuns,
		ghCPU:   ticksPerRun(ghCPU1-ghCPU0, o.runs),
		sshdCPU: ticksPerRun(sshdCPU1-sshdCPU0, o.runs),
		ghMem:   ghMem, sshdMem: sshdMem,
	})
	return nil
}

// sample is one login.
type sample struct {
	result    time.Duration // start of ssh to the JSON line (gatehouse) or to its exit (sshd)
	exit      time.Duration // start of ssh to its exit
	clientCPU time.Duration // user+system time of the ssh process
}

func sshArgs(t target, key string) []string {
	args := []string{
		"-F", "/dev/null",
		"-i", key,
		"-p", strconv.Itoa(t.srv.Port),
		"-o", "IdentitiesOnly=yes",
		"-o", "BatchMode=yes",
		"-o", "ControlMaster=no",
		"-o", "ControlPath=none",
		"-o", "StrictHostKeyChecking=no",
		"-o", "UserKnownHostsFile=/dev/null",
		"-o", "LogLevel=ERROR",
		"-o", "KexAlgorithms=" + kex,
		"-o", "HostKeyAlgorithms=ssh-ed25519",
		t.user + "@127.0.0.1",
	}
	return append(args, t.command...)
}

// login runs the real ssh client once against t.
func login(ctx context.Context, t target, key string) (sample, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ssh", sshArgs(t, key)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return sample{}, err
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return sample{}, err
	}
	var s sample
	jsonErr := error(nil)
	if t.json {
		jsonErr = errNoJSON
	}
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "JSON_OUTPUT=")
		if !ok || !t.json || jsonErr != errNoJSON {
			continue
		}
		s.result = time.Since(start)
		jsonErr = checkInfo(line)
	}
	if err := cmd.Wait(); err != nil {
		return sample{}, fmt.Errorf("%s: ssh %s: %w: %s", t.srv.Name, strings.Join(t.command, " "), err, stderr.String())
	}
	s.exit = time.Since(start)
	if !t.json {
		s.result = s.exit
	}
	if jsonErr != nil {
		return sample{}, fmt.Errorf("%s: %w", t.srv.Name, jsonErr)
	}
	s.clientCPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	return s, nil
}

// checkInfo makes sure the timed command did its work: an OK answer naming the account.
func checkInfo(line string) error {
	var v struct {
		Command   any    `json:"command"`
		ErrorCode string `json:"error_code"`
		Value     any    `json:"value"`
	}
	if err := json.Unmarshal([]byte(line), &v); err != nil {
		return fmt.Errorf("JSON_OUTPUT is not JSON: %w", err)
	}
	if v.ErrorCode != "OK" || v.Command != "info" || v.Value == nil {
		return fmt.Errorf("--osh info did not succeed: %s", line)
	}
	return nil
}

func loadSigner(key string) (ssh.Signer, error) {
	b, err := os.ReadFile(key)
	if err != nil {
		return nil, err
	}
	return ssh.ParsePrivateKey(b)
}

// memory is the PSS of a server before and after opening the idle connections.
type memory struct {
	before, after           uint64 // KiB
	procsBefore, procsAfter int
	conns                   int
}

func (m memory) perConn() float64 { return (float64(m.after) - float64(m.before)) / float64(m.conns) }

// idleMemory opens o.conns authenticated connections to t with no channel, reads the server's
// PSS, and closes them.
func idleMemory(ctx context.Context, t target, signer ssh.Signer, o options) (memory, error) {
	m := memory{conns: o.conns}
	time.Sleep(500 * time.Millisecond)
	var err error
	if m.before, m.procsBefore, err = procfs.TreePssKiB(t.srv.PID()); err != nil {
		return m, err
	}
	cfg := &ssh.ClientConfig{
		User:              t.user,
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback:   ssh.InsecureIgnoreHostKey(), // a server this program just started
		HostKeyAlgorithms: []string{ssh.KeyAlgoED25519},
		Config:            ssh.Config{KeyExchanges: []string{kex}},
		Timeout:           15 * time.Second,
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(t.srv.Port))
	clients := make([]*ssh.Client, o.conns)
	defer func() {
		for _, c := range clients {
			if c != nil {
				c.Close()
			}
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, o.conns)
	sem := make(chan struct{}, o.parallel)
	for i := range clients {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if ctx.Err() != nil {
				errs <- ctx.Err()
				return
			}
			c, err := ssh.Dial("tcp", addr, cfg)
			if err != nil {
				errs <- fmt.Errorf("connection %d: %w", i+1, err)
				return
			}
			clients[i] = c
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return m, err
	}
	time.Sleep(2 * time.Second) // let the server settle (sshd's children finish their start-up)
	if m.after, m.procsAfter, err = procfs.TreePssKiB(t.srv.PID()); err != nil {
		return m, err
	}
	return m, nil
}

func ticksPerRun(ticks uint64, runs int) time.Duration {
	return time.Duration(ticks) * (time.Second / procfs.ClockTicks) / time.Duration(runs)
}

func ms(ss []sample, pick func(sample) time.Duration) []float64 {
	out := make([]float64, len(ss))
	for i, s := range ss {
		out[i] = float64(pick(s)) / float64(time.Millisecond)
	}
	return out
}

type reportData struct {
	base, ours     []sample
	ghCPU, sshdCPU time.Duration
	ghMem, sshdMem memory
}

func report(w io.Writer, o options, d reportData) {
	fmt.Fprintf(w, "machine: %d CPUs (%s), Linux %s, %s\n", runtime.NumCPU(), stats.CPUModel(), stats.Kernel(), stats.SSHVersion())
	fmt.Fprintf(w, "runs: %d alternating logins each after %d warm-up; %d idle connections; kex %s\n\n", o.runs, o.warmup, o.conns, kex)

	result := func(s sample) time.Duration { return s.result }
	exit := func(s sample) time.Duration { return s.exit }
	cpu := func(s sample) time.Duration { return s.clientCPU }
	rows := []struct {
		name string
		xs   []float64
	}{
		{"sshd `ssh … true`, to exit", ms(d.base, exit)},
		{"gatehouse `--osh info`, to JSON line", ms(d.ours, result)},
		{"gatehouse `--osh info`, to exit", ms(d.ours, exit)},
		{"ssh client CPU, against sshd", ms(d.base, cpu)},
		{"ssh client CPU, against gatehouse", ms(d.ours, cpu)},
	}
	fmt.Fprintln(w, "| measure (ms) | median | p90 | min |")
	fmt.Fprintln(w, "|---|---:|---:|---:|")
	for _, r := range rows {
		fmt.Fprintf(w, "| %s | %.1f | %.1f | %.1f |\n", r.name, stats.Quantile(r.xs, 0.5), stats.Quantile(r.xs, 0.9), slices.Min(r.xs))
	}
	fmt.Fprintf(w, "| server CPU per login, sshd (listener + reaped children, incl. the shell) | %.1f | | |\n", float64(d.sshdCPU)/float64(time.Millisecond))
	fmt.Fprintf(w, "| server CPU per login, gatehouse | %.1f | | |\n", float64(d.ghCPU)/float64(time.Millisecond))

	if o.verbose {
		for _, r := range rows[:2] {
			s := slices.Clone(r.xs)
			slices.Sort(s)
			fmt.Fprintf(w, "\n%s, sorted (ms): %.0f", r.name, s)
		}
		fmt.Fprintln(w)
	}

	ratio := stats.Quantile(ms(d.ours, result), 0.5) / stats.Quantile(ms(d.base, exit), 0.5)
	ratioExit := stats.Quantile(ms(d.ours, exit), 0.5) / stats.Quantile(ms(d.base, exit), 0.5)
	fmt.Fprintf(w, "\nround trip ratio gatehouse/sshd (medians): %.2f to the JSON line, %.2f to exit; target ≤ 0.80: %s\n",
		ratio, ratioExit, stats.Verdict(ratio <= 0.8))

	fmt.Fprintln(w, "\n| server | PSS before (KiB) | PSS with conns (KiB) | processes | per idle connection (KiB) |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|")
	for _, r := range []struct {
		name string
		m    memory
	}{{"gatehouse", d.ghMem}, {"sshd", d.sshdMem}} {
		fmt.Fprintf(w, "| %s | %d | %d | %d → %d | %.1f |\n", r.name, r.m.before, r.m.after, r.m.procsBefore, r.m.procsAfter, r.m.perConn())
	}
	fmt.Fprintf(w, "\ngatehouse memory per idle connection %.1f KiB; target < 100 KiB: %s\n", d.ghMem.perConn(), stats.Verdict(d.ghMem.perConn() < 100))
}

// errNoJSON: the server answered without the JSON line the benchmark waits for.
var errNoJSON = errors.New("no JSON_OUTPUT line")
