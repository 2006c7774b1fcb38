// Command transfer measures file transfers through gatehouse (issue 12, Performance) with the real
// OpenSSH clients against a real OpenSSH sshd, paired in the same run with two baselines:
//
//	go run ./bench/transfer [-n 3] [-mib 512] [-ways scp,sftp,get,cat] [-cpuprofile DIR] [-config 'KEY = VALUE'] [-base BIN]
//
// Routes, all to the same target sshd on 127.0.0.1, as root:
//   - direct: the client straight to the target;
//   - proxyjump: OpenSSH's own ProxyJump (-J) through a second, plain sshd;
//   - gatehouse-jump: ProxyJump through gatehouse (the ssh_config stanza way: gatehouse ends the
//     inner SSH session, audits every SFTP operation with its SHA-256, records the session);
//   - gatehouse-user: the target in the user name (-o User=alice:root@127.0.0.1:TPORT);
//   - base-jump, base-user: the same through a second gatehouse, the binary -base names (a
//     build of another commit): a change is then compared with what it changes in the same run,
//     under the same load, which successive runs on a shared machine cannot give.
//
// Ways: scp (OpenSSH's default SFTP mode, an upload of a -mib MiB random file), scpo (the same
// with legacy scp, -O), sftp (-b with
// one put), get (sftp -b with one get), cat (ssh TARGET cat FILE: a download through the
// session's stdout). Each run's size is checked at the destination. Rounds alternate the routes
// so that the machine's load falls on all of them. The load average is printed with each run.
//
// Beside MB/s, what stays steady on a loaded machine: CPU seconds per GiB of gatehouse, of the
// sshds (the listener with the connection processes it reaped, /proc/PID/stat) and of the
// client (wait4), and gatehouse's read+write system calls per MiB (/proc/PID/io). -cpuprofile
// DIR then writes a CPU profile of gatehouse per way and gatehouse route (through
// GATEHOUSE_PPROF_LISTEN); -config adds lines to gatehouse.toml, to compare a setting.
//
// Every process it starts is ended on return, on error and on SIGINT/SIGTERM.
package main

import (
	"gatehouse/bench/internal/benchserver"
	"gatehouse/bench/internal/procfs"
	"gatehouse/bench/internal/stats"

	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	n := flag.Int("n", 3, "timed runs per route and way, alternating")
	mib := flag.Int64("mib", 512, "MiB per transfer (a file of random bytes)")
	ways := flag.String("ways", "scp,sftp,get,cat", "what to time, comma-separated: scp, scpo (scp -O), sftp (put), get (sftp get), cat")
	routes := flag.String("routes", "direct,proxyjump,gatehouse-jump,gatehouse-user", "routes, comma-separated")
	keep := flag.Bool("keep", false, "keep the temporary directory")
	prof := flag.String("cpuprofile", "", "after the timed rounds, write a CPU profile of gatehouse for each way through each gatehouse route to DIR/WAY-ROUTE.pprof (transfers repeated for -profsec)")
	profSec := flag.Int("profsec", 20, "seconds of each -cpuprofile profile")
	extra := flag.String("config", "", "lines added to gatehouse.toml (e.g. 'gcPercent = 200'), to compare a setting")
	base := flag.String("base", "", "a second gatehouse binary (another commit's build) timed in the same run as routes base-jump and base-user")
	flag.Parse()
	rs := strings.Split(*routes, ",")
	if *base != "" {
		rs = append(rs, "base-jump", "base-user")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *n, *mib, strings.Split(*ways, ","), rs, *keep, *prof, *profSec, *extra, *base); err != nil {
		fmt.Fprintln(os.Stderr, "transfer:", err)
		os.Exit(1)
	}
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func run(ctx context.Context, n int, mib int64, ways, routes []string, keep bool, profDir string, profSec int, extra, baseBin string) error {
	dir, err := os.MkdirTemp("", "gatehouse-bench-transfer-")
	if err != nil {
		return err
	}
	if !keep {
		defer os.RemoveAll(dir)
	}
	bin, err := benchserver.BuildGatehouse(dir)
	if err != nil {
		return err
	}
	key := filepath.Join(dir, "id_ed25519")
	if err := benchserver.Run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key); err != nil {
		return err
	}
	sshd, err := exec.LookPath("sshd")
	if err != nil {
		sshd = "/usr/sbin/sshd"
	}
	target, targetAK, err := benchserver.StartSSHD(ctx, sshd, dir, "target", key+".pub")
	if err != nil {
		return err
	}
	defer target.Stop()
	jump, _, err := benchserver.StartSSHD(ctx, sshd, dir, "jump", key+".pub")
	if err != nil {
		return err
	}
	defer jump.Stop()
	// gatehouse's profiling endpoints (off unless asked), for -cpuprofile.
	pprofPort, err := benchserver.FreePort()
	if err != nil {
		return err
	}
	pprofAddr := "127.0.0.1:" + strconv.Itoa(pprofPort)
	if profDir != "" {
		os.Setenv("GATEHOUSE_PPROF_LISTEN", pprofAddr)
		fmt.Printf("gatehouse's profiling endpoints: http://%s/debug/pprof/\n", pprofAddr)
	}
	toml := "maxStartups = \"2000:30:3000\"\nperSourceMaxStartups = 0\nperSourcePenalties = false\n" + extra + "\n"
	gh, err := benchserver.StartGatehouse(ctx, bin, dir, "gh", toml, key+".pub")
	if err != nil {
		return err
	}
	defer gh.Stop()
	ghb := gh // -base's gatehouse, or gh again
	if baseBin != "" {
		os.Unsetenv("GATEHOUSE_PPROF_LISTEN") // profiles are of the build under test
		if ghb, err = benchserver.StartGatehouse(ctx, baseBin, dir, "ghb", toml, key+".pub"); err != nil {
			return err
		}
		defer ghb.Stop()
	}
	cfg := filepath.Join(dir, "ssh_config")
	tport := strconv.Itoa(target.Port)
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`Host gh
  HostName 127.0.0.1
  Port %d
  User alice
Host ghb
  HostName 127.0.0.1
  Port %d
  User alice
Host jp
  HostName 127.0.0.1
  Port %d
  User root
Host *
  IdentityFile %s
  IdentitiesOnly yes
  BatchMode yes
  ControlMaster no
  ControlPath none
  StrictHostKeyChecking no
  UserKnownHostsFile /dev/null
  LogLevel ERROR
  KexAlgorithms %s
`, gh.Port, ghb.Port, jump.Port, key, benchserver.Kex)), 0o600); err != nil {
		return err
	}
	// admin (whose key is ours) creates alice with the same key, her access and grants.
	sshGH := func(g *benchserver.Server, user string, words ...string) (string, error) {
		args := append([]string{"-F", cfg, "-p", strconv.Itoa(g.Port), user + "@127.0.0.1", "--", "--json-greppable"}, words...)
		out, err := exec.CommandContext(ctx, "ssh", args...).CombinedOutput()
		if err != nil || !strings.Contains(string(out), `"error_code":"OK"`) {
			return string(out), fmt.Errorf("ssh %s: %v: %s", strings.Join(words, " "), err, out)
		}
		return string(out), nil
	}
	pub, _ := os.ReadFile(key + ".pub")
	setup := func(g *benchserver.Server) error {
		if _, err := sshGH(g, "admin", "--osh", "accountCreate", "--account", "alice", "--public-key", "'"+strings.TrimSpace(string(pub))+"'"); err != nil {
			return err
		}
		for _, opt := range []string{"--user root", "--sftp", "--scpup", "--scpdown"} {
			words := append([]string{"--osh", "accountAddPersonalAccess", "--account", "alice", "--host", "127.0.0.1", "--port", tport, "--force"}, strings.Fields(opt)...)
			if _, err := sshGH(g, "admin", words...); err != nil {
				return err
			}
		}
		out, err := sshGH(g, "alice", "--osh", "selfListEgressKeys")
		if err != nil {
			return err
		}
		i := strings.Index(out, `"line":"`)
		if i < 0 {
			return fmt.Errorf("no egress key line in %q", out)
		}
		line := out[i+len(`"line":"`):]
		line = line[:strings.IndexByte(line, '"')]
		f, err := os.OpenFile(targetAK, os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		fmt.Fprintln(f, line)
		return f.Close()
	}
	if err := setup(gh); err != nil {
		return err
	}
	if ghb != gh {
		if err := setup(ghb); err != nil {
			return err
		}
	}

	src := filepath.Join(dir, "src.bin")
	if err := randomFile(src, mib<<20); err != nil {
		return err
	}
	dst := filepath.Join(dir, "dst.bin")
	size := mib << 20
	batch := filepath.Join(dir, "batch")
	if err := os.WriteFile(batch, []byte("put "+src+" "+dst+"\n"), 0o600); err != nil {
		return err
	}
	batchGet := filepath.Join(dir, "batch-get")
	if err := os.WriteFile(batchGet, []byte("get "+src+" "+dst+"\n"), 0o600); err != nil {
		return err
	}
	userTarget := "User=alice:root@127.0.0.1:" + tport
	// argv returns the command line of one way over one route.
	argv := func(way, route string) []string {
		var hop []string // options that choose the route
		host := "root@127.0.0.1"
		switch route {
		case "proxyjump":
			hop = []string{"-J", "jp"}
		case "gatehouse-jump":
			hop = []string{"-J", "gh"}
		case "gatehouse-user", "base-user":
			hop, host = []string{"-o", userTarget}, "127.0.0.1"
		case "base-jump":
			hop = []string{"-J", "ghb"}
		}
		port := tport
		switch route {
		case "gatehouse-user":
			port = strconv.Itoa(gh.Port)
		case "base-user":
			port = strconv.Itoa(ghb.Port)
		}
		switch way {
		case "scp":
			return append(append([]string{"scp", "-F", cfg, "-q", "-P", port}, hop...), src, host+":"+dst)
		case "scpo": // legacy scp (-O: scp -t on the target, audited by internal/transfer's scp reader)
			return append(append([]string{"scp", "-O", "-F", cfg, "-q", "-P", port}, hop...), src, host+":"+dst)
		case "sftp":
			return append(append([]string{"sftp", "-F", cfg, "-q", "-P", port}, hop...), "-b", batch, host)
		case "get":
			return append(append([]string{"sftp", "-F", cfg, "-q", "-P", port}, hop...), "-b", batchGet, host)
		default: // cat
			return append(append([]string{"ssh", "-F", cfg, "-p", port}, hop...), host, "cat "+src)
		}
	}
	// once runs one transfer and measures it: MB/s of the client's wall time, and the CPU time
	// each party spent, read from /proc (gatehouse's process; each sshd listener with the
	// connection processes it reaped; the client with its children, from wait4).
	once := func(way, route string) (sample, error) {
		os.Remove(dst)
		a := argv(way, route)
		cmd := exec.CommandContext(ctx, a[0], a[1:]...)
		var got int64
		var errb strings.Builder
		cmd.Stderr = &errb
		g := gh // the gatehouse this route goes through
		if strings.HasPrefix(route, "base-") {
			g = ghb
		}
		before, err := cpuOf(g, target, jump)
		if err != nil {
			return sample{}, err
		}
		sysBefore, err := syscalls(g.PID())
		if err != nil {
			return sample{}, err
		}
		start := time.Now()
		if way == "cat" {
			pipe, err := cmd.StdoutPipe()
			if err != nil {
				return sample{}, err
			}
			if err := cmd.Start(); err != nil {
				return sample{}, err
			}
			got, _ = io.CopyBuffer(io.Discard, pipe, make([]byte, 1<<20))
			if err := cmd.Wait(); err != nil {
				return sample{}, fmt.Errorf("%s %s: %v %s", way, route, err, errb.String())
			}
		} else {
			if err := cmd.Run(); err != nil {
				return sample{}, fmt.Errorf("%s %s: %v %s", way, route, err, errb.String())
			}
			st, err := os.Stat(dst)
			if err != nil {
				return sample{}, fmt.Errorf("%s %s: nothing arrived: %v", way, route, err)
			}
			got = st.Size()
		}
		el := time.Since(start).Seconds()
		if got != size {
			return sample{}, fmt.Errorf("%s %s: %d bytes arrived, want %d", way, route, got, size)
		}
		// The sshd connection processes end with the client; their time counts once reaped.
		waitReaped(ctx, target.PID(), jump.PID())
		after, err := cpuOf(g, target, jump)
		if err != nil {
			return sample{}, err
		}
		sysAfter, err := syscalls(g.PID())
		if err != nil {
			return sample{}, err
		}
		gib := float64(size) / (1 << 30)
		ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		client := time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
		return sample{
			mbs:    float64(size) / 1e6 / el,
			gh:     (after[0] - before[0]) / gib,
			sshd:   (after[1] - before[1] + after[2] - before[2]) / gib,
			client: client / gib,
			sys:    float64(sysAfter-sysBefore) / float64(size>>20),
		}, nil
	}
	fmt.Print(stats.Machine()) // with the load average before
	results := map[string][]sample{}
	for round := 0; round < n+1; round++ { // round 0 warms up (untimed)
		for _, way := range ways {
			for _, route := range routes {
				s, err := once(way, route)
				if err != nil {
					return err
				}
				if round > 0 {
					results[way+" "+route] = append(results[way+" "+route], s)
				}
				fmt.Printf("  round %d %-4s %-15s %6.1f MB/s  CPU-s/GiB gatehouse %5.2f sshd %5.2f client %5.2f  gatehouse syscalls/MiB %4.0f  load %s\n",
					round, way, route, s.mbs, s.gh, s.sshd, s.client, s.sys, loadavg())
			}
		}
	}
	fmt.Printf("load average after: %s\n\n", loadavg())
	fmt.Printf("MB/s: 10^6 bytes per second of the client's wall time (login included); CPU-s/GiB: medians of\n" +
		"each party's CPU seconds per GiB moved (sshd: the target's plus the plain jump's, connection processes included).\n\n")
	fmt.Printf("| way | route | MB/s (median) | min–max | ÷ direct | ÷ proxyjump | gatehouse CPU-s/GiB | sshd CPU-s/GiB | client CPU-s/GiB | gatehouse syscalls/MiB |\n" +
		"|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, way := range ways {
		direct := median(field(results[way+" direct"], func(s sample) float64 { return s.mbs }))
		pj := median(field(results[way+" proxyjump"], func(s sample) float64 { return s.mbs }))
		for _, route := range routes {
			ss := results[way+" "+route]
			xs := field(ss, func(s sample) float64 { return s.mbs })
			sort.Float64s(xs)
			m := median(xs)
			fmt.Printf("| %s | %s | %.0f | %.0f–%.0f | %s | %s | %.2f | %.2f | %.2f | %.0f |\n", way, route, m, xs[0], xs[len(xs)-1], ratio(m, direct), ratio(m, pj),
				median(field(ss, func(s sample) float64 { return s.gh })),
				median(field(ss, func(s sample) float64 { return s.sshd })),
				median(field(ss, func(s sample) float64 { return s.client })),
				median(field(ss, func(s sample) float64 { return s.sys })))
		}
	}
	if profDir != "" {
		return profile(ctx, profDir, pprofAddr, profSec, ways, routes, once)
	}
	return nil
}

// sample is one timed transfer: MB/s, and CPU seconds per GiB of gatehouse, of the sshds and of
// the client, and gatehouse's read and write system calls per MiB.
type sample struct{ mbs, gh, sshd, client, sys float64 }

func field(ss []sample, f func(sample) float64) []float64 {
	xs := make([]float64, len(ss))
	for i, s := range ss {
		xs[i] = f(s)
	}
	return xs
}

// cpuOf is the CPU seconds so far of each server (with its reaped children).
func cpuOf(servers ...*benchserver.Server) ([]float64, error) {
	out := make([]float64, len(servers))
	for i, s := range servers {
		t, err := procfs.CPUTicks(s.PID())
		if err != nil {
			return nil, err
		}
		out[i] = float64(t) / procfs.ClockTicks
	}
	return out, nil
}

// syscalls is the number of read and write system calls pid made so far (/proc/PID/io).
func syscalls(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return 0, err
	}
	var n uint64
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ": ")
		if ok && (k == "syscr" || k == "syscw") {
			x, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/%d/io %s: %w", pid, k, err)
			}
			n += x
		}
	}
	return n, nil
}

// waitReaped waits (up to 5 s) until the listeners have no child left: their connections'
// CPU time is then in their counters.
func waitReaped(ctx context.Context, pids ...int) {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		busy := false
		for _, pid := range pids {
			if d, err := procfs.Descendants(pid); err == nil && len(d) > 1 {
				busy = true
			}
		}
		if !busy {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// profile writes a CPU profile of gatehouse for each way through each of its routes: the
// profile is asked of gatehouse's pprof endpoint for sec seconds while transfers repeat.
func profile(ctx context.Context, dir, addr string, sec int, ways, routes []string, once func(way, route string) (sample, error)) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, way := range ways {
		for _, route := range routes {
			if !strings.HasPrefix(route, "gatehouse") {
				continue
			}
			file := filepath.Join(dir, way+"-"+route+".pprof")
			done := make(chan error, 1)
			go func() {
				done <- fetchProfile(ctx, "http://"+addr+"/debug/pprof/profile?seconds="+strconv.Itoa(sec), file)
			}()
			runs := 0
		loop:
			for {
				if _, err := once(way, route); err != nil {
					return err
				}
				runs++
				select {
				case err := <-done:
					if err != nil {
						return err
					}
					break loop
				default:
				}
			}
			fmt.Printf("profile %s (%d transfers): go tool pprof -top %s\n", file, runs, file)
		}
	}
	return nil
}

func fetchProfile(ctx context.Context, url, file string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("gatehouse profile: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("gatehouse profile: %s", resp.Status)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// ratio is a/b with two decimals, "–" without b (its route was not run).
func ratio(a, b float64) string {
	if b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", a/b)
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	return stats.Quantile(xs, 0.5)
}

func randomFile(path string, n int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	r, err := os.Open("/dev/urandom")
	if err != nil {
		return err
	}
	defer r.Close()
	if _, err := io.CopyN(f, r, n); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
