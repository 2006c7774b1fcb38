package main

import (
	"gatehouse/bench/internal/benchserver"

	"gatehouse/bench/internal/lighttarget"
	"gatehouse/bench/internal/procfs"

	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
)

// snapshot is the memory of gatehouse and of the target at one moment.
type snapshot struct {
	ghPss, ghAnon uint64 // KiB
	ghThreads     int
	targetPss     uint64 // the target sshd and every process below it, KiB
	targetProcs   int
	sleeping      int           // sleep processes below the target sshd (or sessions the light target holds)
	open          time.Duration // to have every session of the wave relayed
	goroutines    int           // gatehouse's, from its /metrics (go_goroutines)
	heap, stack   uint64        // gatehouse's go_memstats_heap_inuse_bytes and stack_inuse_bytes, KiB
	cpu           time.Duration // gatehouse's user+system CPU time so far (/proc/PID/stat)
	roundTrips    int           // sessions that echoed a line back through the relay after measuring
	roundTrip     time.Duration // to have every session answer it
}

// idleResult is the memory of one fresh gatehouse before and with each wave of idle relayed
// sessions.
type idleResult struct {
	name     string // the store: sqlite or postgres
	sessions int
	before   snapshot
	waves    []snapshot
}

// perSession is the growth of gatehouse's PSS per session, from the fresh process to wave i.
func (r *idleResult) perSession(i int) float64 {
	return (float64(r.waves[i].ghPss) - float64(r.before.ghPss)) / float64(r.sessions)
}

// idlePhase opens o.sessions sessions through a fresh gatehouse, each running a command that
// prints "ready" and sleeps on the target, waits until every one has printed it, and reads the
// memory of gatehouse and of the target sshd. With o.waves > 1, that many waves of sessions are
// opened and ended one after the other and the last one is measured against the fresh process:
// sessions that come and go, as on a bastion in use. With -store, the same is done on a
// gatehouse with a PostgreSQL store, after the SQLite one. With -go-target, the sessions go to
// the light Go target (bench/internal/lighttarget) instead of sshd.
func (e *env) idlePhase(ctx context.Context) ([]*idleResult, error) {
	stores := []string{"sqlite"}
	if e.o.store != "" {
		stores = append(stores, "postgres")
	}
	if e.o.goTarget {
		lt, err := lighttarget.Start()
		if err != nil {
			return nil, err
		}
		defer lt.Close()
		e.light = lt
	}
	var out []*idleResult
	for _, name := range stores {
		port, err := benchserver.FreePort()
		if err != nil {
			return nil, err
		}
		conf := gatehouseConfig("", "") + fmt.Sprintf("metricsListen = \"127.0.0.1:%d\"\n", port)
		if e.o.idleKill > 0 {
			// Idle lock and kill timeouts, as a bastion sets them: the sessions must stay
			// open through the measurement (the kill comes later than the bench ends).
			conf += fmt.Sprintf("idleLockTimeout = %d\nidleKillTimeout = %d\n", e.o.idleKill/2, e.o.idleKill)
		}
		if name == "postgres" {
			dsn, drop, err := benchserver.FreshPostgres(ctx, e.o.store)
			if err != nil {
				return nil, err
			}
			defer drop()
			conf += storeConfig(dsn)
		}
		res, err := e.idleOn(ctx, name, conf, port)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out = append(out, res)
	}
	return out, nil
}

func (e *env) idleOn(ctx context.Context, name, conf string, metricsPort int) (*idleResult, error) {
	gh, err := e.startGatehouse(ctx, "gatehouse-idle-"+name, conf)
	if err != nil {
		return nil, err
	}
	defer gh.Stop()
	e.metrics = fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort)
	if e.light != nil {
		if _, err := osh(ctx, gh.Addr(), "admin", e.admin,
			"accountAddPersonalAccess --force --account alice --host 127.0.0.1 --user root --port "+strconv.Itoa(e.light.Port)); err != nil {
			return nil, err
		}
	}
	res := &idleResult{name: name, sessions: e.o.sessions}
	time.Sleep(time.Second)
	if res.before, err = e.measure(gh); err != nil {
		return nil, err
	}
	for wave := 1; wave <= e.o.waves; wave++ {
		snap, err := e.idleWave(ctx, gh)
		if err != nil {
			return nil, fmt.Errorf("wave %d: %w", wave, err)
		}
		res.waves = append(res.waves, snap)
		time.Sleep(2 * time.Second) // gatehouse closes the sessions
	}
	return res, nil
}

// measure reads gatehouse's memory, threads and goroutines, and the target's.
func (e *env) measure(gh *benchserver.Server) (snapshot, error) {
	if e.light == nil {
		s, err := measure(gh, e.target)
		if err == nil {
			s.goroutines, s.heap, s.stack = goMetrics(e.metrics)
			if t, err := procfs.CPUTicks(gh.PID()); err == nil {
				s.cpu = ticks(t)
			}
		}
		return s, err
	}
	var s snapshot
	roll, err := rollup(gh.PID())
	if err != nil {
		return s, err
	}
	if s.ghThreads, err = threadsOf(gh.PID()); err != nil {
		return s, err
	}
	s.ghPss, s.ghAnon = roll["Pss"], roll["Pss_Anon"]
	if t, err := procfs.CPUTicks(gh.PID()); err == nil {
		s.cpu = ticks(t)
	}
	s.sleeping = e.light.Held()
	s.goroutines, s.heap, s.stack = goMetrics(e.metrics)
	return s, nil
}

// goMetrics reads go_goroutines, and the heap and stacks in use (KiB), from a gatehouse's
// /metrics (-1 and 0 when it cannot).
func goMetrics(url string) (goroutines int, heapKiB, stackKiB uint64) {
	goroutines = -1
	resp, err := http.Get(url)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, l := range strings.Split(string(body), "\n") {
		name, v, ok := strings.Cut(l, " ")
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			continue
		}
		switch name {
		case "go_goroutines":
			goroutines = int(f)
		case "go_memstats_heap_inuse_bytes":
			heapKiB = uint64(f) >> 10
		case "go_memstats_stack_inuse_bytes":
			stackKiB = uint64(f) >> 10
		}
	}
	return
}

// idleSession is one open idle session: its input, kept open as a user's terminal's is, its
// output after "ready", and its end.
type idleSession struct {
	stdin io.WriteCloser
	out   *bufio.Reader
	ended chan error
}

// idleWave opens the sessions, -sessions-per-conn on each connection, measures, checks that
// every session is live (a line echoed back through the relay, with the light target), and
// ends them.
func (e *env) idleWave(ctx context.Context, gh *benchserver.Server) (snap snapshot, err error) {
	command := fmt.Sprintf("root@127.0.0.1 -p %d echo ready; exec sleep %d", e.target.Port, e.o.sleep)
	if e.light != nil {
		command = fmt.Sprintf("root@127.0.0.1 -p %d idle", e.light.Port)
	}
	cfg := clientConfig("alice", e.user)
	perConn := e.o.perConn
	nconns := (e.o.sessions + perConn - 1) / perConn
	clients := make([]*ssh.Client, nconns)
	sessions := make([]*idleSession, e.o.sessions)
	defer func() {
		// End the sleeping commands on the target (they are ours, below our sshd), then the
		// sessions end by themselves; close what is left.
		if e.light != nil {
			e.light.CloseAll()
		} else {
			killSleeping(e.target.PID())
		}
		deadline := time.After(20 * time.Second)
		for _, is := range sessions {
			if is == nil {
				continue
			}
			select {
			case <-is.ended:
			case <-deadline:
			}
		}
		for _, c := range clients {
			if c != nil {
				c.Close()
			}
		}
	}()

	start := time.Now()
	sem := make(chan struct{}, e.o.parallel)
	errs := make(chan error, nconns)
	var wg sync.WaitGroup
	for i := range clients {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return snap, ctx.Err()
		}
		if len(errs) > 0 {
			break
		}
		first := i * perConn
		n := min(perConn, e.o.sessions-first)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := ssh.Dial("tcp", gh.Addr(), cfg)
			if err != nil {
				errs <- fmt.Errorf("connection %d: %w", i+1, err)
				return
			}
			clients[i] = c
			for k := range n {
				is, err := openIdle(ctx, c, command)
				sessions[first+k] = is
				if err != nil {
					errs <- fmt.Errorf("connection %d, session %d: %w", i+1, k+1, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	if len(all) > 0 {
		return snap, fmt.Errorf("%d connections failed, first: %w", len(all), all[0])
	}
	open := time.Since(start)
	select { // let the runtime settle (its GC shrinks the stacks the logins grew)
	case <-time.After(e.o.settle):
	case <-ctx.Done():
		return snap, ctx.Err()
	}
	if snap, err = e.measure(gh); err != nil {
		return snap, err
	}
	snap.open = open
	if snap.sleeping != e.o.sessions {
		return snap, fmt.Errorf("%d sessions held by the target, want %d", snap.sleeping, e.o.sessions)
	}
	for i, is := range sessions {
		select {
		case err := <-is.ended:
			return snap, fmt.Errorf("session %d ended early: %v", i+1, err)
		default:
		}
	}
	if e.o.hold > 0 {
		fmt.Fprintf(e.w, "holding %d sessions on gatehouse pid %d (%s) for %s\n", e.o.sessions, gh.PID(), gh.Dir, e.o.hold)
		select {
		case <-time.After(e.o.hold):
		case <-ctx.Done():
		}
	}
	if e.light != nil {
		// Every session still live after the measurement: a line in, the same line out.
		t0 := time.Now()
		if snap.roundTrips, err = roundTrips(ctx, sessions, e.o.parallel); err != nil {
			return snap, err
		}
		snap.roundTrip = time.Since(t0)
	}
	return snap, nil
}

// roundTrips sends each session a line and waits for the light target's echo, parallel at a
// time; it returns how many answered, or the first failure.
func roundTrips(ctx context.Context, sessions []*idleSession, parallel int) (int, error) {
	sem := make(chan struct{}, parallel)
	errs := make(chan error, len(sessions))
	var wg sync.WaitGroup
	for i, is := range sessions {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			want := fmt.Sprintf("ping %d\n", i+1)
			got := make(chan error, 1)
			go func() {
				if _, err := io.WriteString(is.stdin, want); err != nil {
					got <- err
					return
				}
				line, err := is.out.ReadString('\n')
				if err == nil && line != want {
					err = fmt.Errorf("echoed %q, want %q", line, want)
				}
				got <- err
			}()
			t := time.NewTimer(30 * time.Second)
			defer t.Stop()
			select {
			case err := <-got:
				if err != nil {
					errs <- fmt.Errorf("session %d round trip: %w", i+1, err)
				}
			case <-t.C:
				errs <- fmt.Errorf("session %d: no echo after 30s", i+1)
			case <-ctx.Done():
				errs <- ctx.Err()
			}
		}()
	}
	wg.Wait()
	close(errs)
	failed := 0
	var first error
	for err := range errs {
		failed++
		if first == nil {
			first = err
		}
	}
	if first != nil {
		return len(sessions) - failed, fmt.Errorf("%d of %d sessions failed the round trip, first: %w", failed, len(sessions), first)
	}
	return len(sessions), nil
}

// openIdle opens one session on c, runs command with its input kept open, and returns once
// the target has printed "ready".
func openIdle(ctx context.Context, c *ssh.Client, command string) (*idleSession, error) {
	is := &idleSession{ended: make(chan error, 1)}
	sess, err := c.NewSession()
	if err != nil {
		is.ended <- err
		return is, err
	}
	fail := func(err error) (*idleSession, error) {
		sess.Close()
		is.ended <- err
		return is, err
	}
	if is.stdin, err = sess.StdinPipe(); err != nil {
		return fail(err)
	}
	out, err := sess.StdoutPipe()
	if err != nil {
		return fail(err)
	}
	is.out = bufio.NewReaderSize(out, 64)
	var stderr tailBuffer
	sess.Stderr = &stderr
	if err := sess.Start(command); err != nil {
		return fail(err)
	}
	ready := make(chan error, 1)
	go func() {
		line, err := is.out.ReadString('\n')
		if err == nil && line != "ready\n" {
			err = fmt.Errorf("unexpected output %q", line)
		}
		ready <- err
	}()
	go func() { is.ended <- sess.Wait() }()
	t := time.NewTimer(60 * time.Second)
	defer t.Stop()
	select {
	case err := <-ready:
		if err != nil {
			return is, fmt.Errorf("%w; gatehouse said: %s", err, stderr.String())
		}
		return is, nil
	case <-t.C:
		return is, fmt.Errorf("no \"ready\" from the target after 60s; gatehouse said: %s", stderr.String())
	case <-ctx.Done():
		return is, ctx.Err()
	}
}

// tailBuffer keeps the last 2 KiB written.
type tailBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > 2048 {
		t.b = t.b[len(t.b)-2048:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.b))
}

func measure(gh, target *benchserver.Server) (snapshot, error) {
	var s snapshot
	roll, err := rollup(gh.PID())
	if err != nil {
		return s, err
	}
	if s.ghThreads, err = threadsOf(gh.PID()); err != nil {
		return s, err
	}
	if s.targetPss, s.targetProcs, err = procfs.TreePssKiB(target.PID()); err != nil {
		return s, err
	}
	s.ghPss, s.ghAnon = roll["Pss"], roll["Pss_Anon"]
	s.sleeping = len(sleepingUnder(target.PID()))
	return s, nil
}

// rollup reads /proc/PID/smaps_rollup into KiB by field.
func rollup(pid int) (map[string]uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return nil, err
	}
	if _, err := procfs.ParsePss(b); err != nil {
		return nil, err
	}
	out := map[string]uint64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 3 && f[2] == "kB" {
			if v, err := strconv.ParseUint(f[1], 10, 64); err == nil {
				out[strings.TrimSuffix(f[0], ":")] = v
			}
		}
	}
	return out, nil
}

func threadsOf(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Threads:"); ok {
			return strconv.Atoi(strings.TrimSpace(v))
		}
	}
	return 0, errors.New("no Threads line in /proc/PID/status")
}

// sleepingUnder lists the sleep processes below root.
func sleepingUnder(root int) []int {
	pids, err := procfs.Descendants(root)
	if err != nil {
		return nil
	}
	var out []int
	for _, pid := range pids[1:] {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err == nil && strings.TrimSpace(string(b)) == "sleep" {
			out = append(out, pid)
		}
	}
	return out
}

// killSleeping ends the idle sessions' commands on the target.
func killSleeping(root int) {
	for _, pid := range sleepingUnder(root) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}
