package main

import (
	"gatehouse/bench/internal/benchserver"

	"gatehouse/bench/internal/procfs"

	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// bulkRun is one bulk transfer over one route.
type bulkRun struct {
	sshRun
	ghCPU, targetCPU, jumpCPU time.Duration
	recording                 int64 // bytes of recording written by gatehouse (after its compaction)
	// compactWait and compactCPU: after the session, until gatehouse's compaction queue is
	// empty (compress at rest, docs/recording.md), the time and gatehouse's CPU (its reaped
	// compaction child included). The next run starts after it, so that the compaction of one
	// run is not measured as the slowness of the next.
	compactWait, compactCPU time.Duration
}

func (b bulkRun) mbps() float64 { return float64(b.bytes) / 1e6 / b.wall.Seconds() }

type bulkResult struct {
	routes []string
	runs   map[string][]bulkRun
}

func (e *env) bulkCommand() []string {
	n := strconv.FormatInt(e.o.bulkMiB<<20, 10)
	if e.bulkFile != "" {
		return []string{"cat", e.bulkFile}
	}
	if e.o.bulkText {
		// Terminal-like text: what people's sessions mostly show. One shell word so the
		// target's shell runs the pipe. A pipe is never stealth: the stealth route records it.
		return []string{"head -c " + n + " /dev/zero | tr '\\000' 'x' | fold -w 79"}
	}
	return []string{"head", "-c", n, "/dev/zero"}
}

func (e *env) bulkRoutes() []route {
	routes := []route{e.direct(), e.proxyJump()}
	for _, v := range []string{recGatehouse, recAsciicast, recTtyrec, recStealth} {
		if e.gh[v] != nil {
			routes = append(routes, e.viaGatehouse(v))
		}
	}
	return routes
}

// bulkPhase runs the bulk command over every route, alternating, bulkRuns times.
func (e *env) bulkPhase(ctx context.Context) (*bulkResult, error) {
	routes := e.bulkRoutes()
	res := &bulkResult{runs: map[string][]bulkRun{}}
	for _, r := range routes {
		res.routes = append(res.routes, r.name)
	}
	for i := 0; i < e.o.bulkRuns; i++ {
		for _, r := range routes {
			b, err := e.bulkOnce(ctx, r)
			if err != nil {
				return nil, fmt.Errorf("run %d %s: %w", i+1, r.name, err)
			}
			if e.o.verbose {
				fmt.Fprintf(e.w, "bulk %s: %.0f MB/s (%.2f s), client CPU %.2f s, gatehouse %.2f s, target sshd %.2f s, jump sshd %.2f s, recording %d bytes\n",
					r.name, b.mbps(), b.wall.Seconds(), b.clientCPU.Seconds(), b.ghCPU.Seconds(), b.targetCPU.Seconds(), b.jumpCPU.Seconds(), b.recording)
			}
			res.runs[r.name] = append(res.runs[r.name], b)
		}
	}
	return res, nil
}

func (e *env) bulkOnce(ctx context.Context, r route) (bulkRun, error) {
	var b bulkRun
	if r.gh != nil {
		if _, err := cleanRecordings(r.gh); err != nil {
			return b, err
		}
	}
	procs := []*benchserver.Server{e.target, e.jump}
	if r.gh != nil {
		procs = append(procs, r.gh)
	}
	before, err := cpuOf(procs)
	if err != nil {
		return b, err
	}
	s, err := runSSH(ctx, r.args(e.bulkCommand()...), 5*time.Minute)
	if err != nil {
		return b, err
	}
	b.sshRun = s
	want := e.o.bulkMiB << 20
	if e.o.bulkText && e.bulkFile == "" {
		want += (want - 1) / 79 // fold's newlines
	}
	if s.bytes != want {
		return b, fmt.Errorf("received %d bytes, want %d", s.bytes, want)
	}
	time.Sleep(300 * time.Millisecond) // until the sshd listeners have reaped the connection's processes
	after, err := cpuOf(procs)
	if err != nil {
		return b, err
	}
	b.targetCPU, b.jumpCPU = after[0]-before[0], after[1]-before[1]
	if r.gh != nil {
		b.ghCPU = after[2] - before[2]
		start := time.Now()
		if err := waitCompacted(ctx, r.gh); err != nil {
			return b, err
		}
		b.compactWait = time.Since(start)
		done, err := cpuOf([]*benchserver.Server{r.gh})
		if err != nil {
			return b, err
		}
		b.compactCPU = done[0] - after[2]
		if b.recording, err = cleanRecordings(r.gh); err != nil {
			return b, err
		}
	}
	return b, nil
}

func cpuOf(servers []*benchserver.Server) ([]time.Duration, error) {
	out := make([]time.Duration, len(servers))
	for i, s := range servers {
		t, err := procfs.CPUTicks(s.PID())
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.Name, err)
		}
		out[i] = ticks(t)
	}
	return out, nil
}

// waitCompacted waits until gatehouse's compaction queue holds no job (its markers, *.json).
func waitCompacted(ctx context.Context, gh *benchserver.Server) error {
	queue := filepath.Join(gh.Dir, "data", "compact")
	deadline := time.Now().Add(5 * time.Minute)
	for {
		jobs, err := filepath.Glob(filepath.Join(queue, "*.json"))
		if err != nil {
			return err
		}
		if len(jobs) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("compaction queue %s still holds %d jobs after 5 minutes", queue, len(jobs))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// cleanRecordings removes the recordings gatehouse has closed, so that 512 MiB runs do not fill
// the disk, and returns their total size.
func cleanRecordings(gh *benchserver.Server) (int64, error) {
	root := filepath.Join(gh.Dir, "data", "recordings")
	var total int64
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		total += fi.Size()
		return os.Remove(p)
	})
	return total, err
}

// perfPhase runs one more bulk transfer through each gatehouse under `perf record` and prints
// the symbols with the most samples in gatehouse's process.
func (e *env) perfPhase(ctx context.Context) error {
	if _, err := exec.LookPath("perf"); err != nil {
		return fmt.Errorf("-perf needs perf: %w", err)
	}
	for _, v := range []string{recGatehouse, recAsciicast, recTtyrec, recStealth} {
		if e.gh[v] == nil {
			continue
		}
		r := e.viaGatehouse(v)
		data := filepath.Join(e.dir, "perf-"+v+".data")
		rec := exec.Command("perf", "record", "-q", "-g", "-F", "499", "-p", strconv.Itoa(r.gh.PID()), "-o", data)
		rec.Stdout, rec.Stderr = os.Stderr, os.Stderr
		if err := rec.Start(); err != nil {
			return err
		}
		time.Sleep(time.Second) // perf attaches
		b, err := e.bulkOnce(ctx, r)
		_ = rec.Process.Signal(syscall.SIGINT)
		werr := rec.Wait()
		if err != nil {
			return err
		}
		var ee *exec.ExitError
		if werr != nil && !(errors.As(werr, &ee) && (ee.ExitCode() == 130 || ee.ExitCode() == -1)) {
			return fmt.Errorf("perf record: %w", werr) // 130 or killed by SIGINT: how perf stops
		}
		out, err := exec.Command("perf", "report", "-i", data, "--stdio", "--no-children", "--sort", "sym",
			"-g", "none", "--percent-limit", "1").Output()
		if err != nil {
			return fmt.Errorf("perf report: %w", err)
		}
		fmt.Fprintf(e.w, "\nperf, %s (this run under perf: %.0f MB/s, gatehouse CPU %.2f s); self time by symbol ≥ 1%%:\n",
			r.name, b.mbps(), b.ghCPU.Seconds())
		for _, l := range strings.Split(string(out), "\n") {
			if l = strings.TrimRight(l, " "); l != "" && !strings.HasPrefix(l, "#") {
				fmt.Fprintln(e.w, "   ", strings.TrimSpace(l))
			}
		}
	}
	return nil
}
