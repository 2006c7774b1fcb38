package main

import (
	"gatehouse/bench/internal/procfs"

	"context"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"
)

// sshRun is one run of the OpenSSH client.
type sshRun struct {
	wall      time.Duration // start of ssh to its exit
	clientCPU time.Duration // user+system of the ssh process (and of children it waited for)
	bytes     int64         // stdout bytes read
}

// runSSH runs ssh with args; stdout is counted (and kept in keep, if not nil), stderr kept for
// errors. A non-zero exit is an error.
func runSSH(ctx context.Context, args []string, limit time.Duration) (sshRun, error) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ssh", args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return sshRun{}, err
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return sshRun{}, err
	}
	var r sshRun
	buf := make([]byte, 1<<20)
	r.bytes, _ = io.CopyBuffer(io.Discard, onlyReader{out}, buf)
	if err := cmd.Wait(); err != nil {
		return sshRun{}, fmt.Errorf("ssh %s: %w: %s", strings.Join(args, " "), err, lastLines(stderr.String(), 5))
	}
	r.wall = time.Since(start)
	r.clientCPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	return r, nil
}

// onlyReader hides WriterTo so CopyBuffer uses the 1 MiB buffer.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, " | ")
}

// connectResult is the connect-and-run-true figure of each route.
type connectResult struct {
	routes []string
	wall   map[string][]float64 // ms
	cpu    map[string][]float64 // client CPU, ms
	ghCPU  time.Duration        // gatehouse CPU per connection
}

func (e *env) connectPhase(ctx context.Context) (*connectResult, error) {
	routes := []route{e.direct(), e.proxyJump(), e.viaGatehouse(recGatehouse)}
	if e.gh[recPostgres] != nil {
		routes = append(routes, e.viaGatehouse(recPostgres))
	}
	res := &connectResult{wall: map[string][]float64{}, cpu: map[string][]float64{}}
	for _, r := range routes {
		res.routes = append(res.routes, r.name)
	}
	for i := 0; i < e.o.warmup; i++ {
		for _, r := range routes {
			if _, err := runSSH(ctx, r.args("true"), 30*time.Second); err != nil {
				return nil, fmt.Errorf("warm-up %s: %w", r.name, err)
			}
		}
	}
	gh := e.gh[recGatehouse]
	time.Sleep(300 * time.Millisecond)
	cpu0, err := procfs.CPUTicks(gh.PID())
	if err != nil {
		return nil, err
	}
	for i := 0; i < e.o.runs; i++ {
		for _, r := range routes {
			s, err := runSSH(ctx, r.args("true"), 30*time.Second)
			if err != nil {
				return nil, fmt.Errorf("run %d %s: %w", i+1, r.name, err)
			}
			res.wall[r.name] = append(res.wall[r.name], msOf(s.wall))
			res.cpu[r.name] = append(res.cpu[r.name], msOf(s.clientCPU))
		}
	}
	time.Sleep(300 * time.Millisecond)
	cpu1, err := procfs.CPUTicks(gh.PID())
	if err != nil {
		return nil, err
	}
	res.ghCPU = ticks(cpu1-cpu0) / time.Duration(e.o.runs)
	return res, nil
}

func msOf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func ticks(t uint64) time.Duration { return time.Duration(t) * (time.Second / procfs.ClockTicks) }
