package main

import (
	"time"

	"gatehouse/bench/internal/stats"

	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

type report struct {
	connect *connectResult
	bulk    *bulkResult
	idle    []*idleResult
}

func (r *report) printConnect(w io.Writer, o options) {
	c := r.connect
	fmt.Fprintf(w, "\n## connect and run `true` (%d alternating runs per route after %d warm-up)\n\n", o.runs, o.warmup)
	fmt.Fprintln(w, "| route | median (ms) | p90 | p99 | min | ratio to direct (median) | ratio (p90) | ssh client CPU (ms, median) |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|")
	base, base90 := stats.Quantile(c.wall["direct"], 0.5), stats.Quantile(c.wall["direct"], 0.9)
	for _, name := range c.routes {
		xs := c.wall[name]
		fmt.Fprintf(w, "| %s | %.1f | %.1f | %.1f | %.1f | %.2f | %.2f | %.1f |\n", name, stats.Quantile(xs, 0.5), stats.Quantile(xs, 0.9), stats.Quantile(xs, 0.99), slices.Min(xs),
			stats.Quantile(xs, 0.5)/base, stats.Quantile(xs, 0.9)/base90, stats.Quantile(c.cpu[name], 0.5))
	}
	fmt.Fprintf(w, "\ngatehouse CPU per connection (ingress login, access check, egress dial, relay, recording, audit): %.1f ms\n", msOf(c.ghCPU))
	ratio := stats.Quantile(c.wall["gatehouse-"+recGatehouse], 0.5) / base
	// Issue 14's target (issue 3 asked ≤ 1.2); wall-clock ratios swing with the machine's load:
	// print it beside them.
	fmt.Fprintf(w, "gatehouse/direct (medians) %.3f; target ≤ 0.80 (issue 14): %s; load average %s\n", ratio, stats.Verdict(ratio <= 0.8), loadAverage())
	if o.verbose {
		for _, name := range c.routes {
			s := slices.Clone(c.wall[name])
			slices.Sort(s)
			fmt.Fprintf(w, "%s sorted (ms): %.0f\n", name, s)
		}
	}
}

func (r *report) printBulk(w io.Writer, o options) {
	b := r.bulk
	fmt.Fprintf(w, "\n## bulk: %d MiB of output (-bulk-data %s), %d alternating runs per route\n\n", o.bulkMiB, o.bulkData, o.bulkRuns)
	cipher := o.cipher
	if cipher == "" {
		cipher = "the OpenSSH client's default (chacha20-poly1305@openssh.com on every OpenSSH hop; gatehouse's own client picks aes128-gcm@openssh.com to the target)"
	}
	fmt.Fprintln(w, "Ciphers:", cipher)
	fmt.Fprintln(w, "MB/s = 10^6 bytes per second, from starting ssh to its exit; CPU in seconds per run (medians).")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| route | MB/s median | min | max | ratio to direct | ssh client CPU | gatehouse CPU | target sshd CPU | jump sshd CPU | recording (MB) | recording/raw |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	med := func(runs []bulkRun, f func(bulkRun) float64) float64 {
		xs := make([]float64, len(runs))
		for i, r := range runs {
			xs[i] = f(r)
		}
		return stats.Quantile(xs, 0.5)
	}
	mbps := func(r bulkRun) float64 { return r.mbps() }
	base := med(b.runs["direct"], mbps)
	for _, name := range b.routes {
		runs := b.runs[name]
		xs := make([]float64, len(runs))
		for i, r := range runs {
			xs[i] = r.mbps()
		}
		fmt.Fprintf(w, "| %s | %.0f | %.0f | %.0f | %.2f | %.2f | %.2f | %.2f | %.2f | %.3f | %.4f |\n", name,
			stats.Quantile(xs, 0.5), slices.Min(xs), slices.Max(xs), stats.Quantile(xs, 0.5)/base,
			med(runs, func(r bulkRun) float64 { return r.clientCPU.Seconds() }),
			med(runs, func(r bulkRun) float64 { return r.ghCPU.Seconds() }),
			med(runs, func(r bulkRun) float64 { return r.targetCPU.Seconds() }),
			med(runs, func(r bulkRun) float64 { return r.jumpCPU.Seconds() }),
			med(runs, func(r bulkRun) float64 { return float64(r.recording) / 1e6 }),
			med(runs, func(r bulkRun) float64 { return float64(r.recording) / float64(r.bytes) }))
	}
	fmt.Fprintln(w)
	for _, v := range []string{recGatehouse, recAsciicast, recTtyrec, recStealth} {
		if b.runs["gatehouse-"+v] == nil {
			continue
		}
		ratio := med(b.runs["gatehouse-"+v], mbps) / base
		fmt.Fprintf(w, "gatehouse (%s)/direct throughput %.3f; target ≥ 0.60: %s\n", v, ratio, stats.Verdict(ratio >= 0.6))
	}
	if b.runs["gatehouse-"+recStealth] == nil {
		return
	}
	off := med(b.runs["gatehouse-"+recStealth], mbps)
	pj := med(b.runs["proxyjump"], mbps)
	for _, v := range []string{recGatehouse, recAsciicast, recTtyrec} {
		if b.runs["gatehouse-"+v] == nil {
			continue
		}
		on := med(b.runs["gatehouse-"+v], mbps)
		fmt.Fprintf(w, "recording %s: on/off (stealth) %.3f, target ≥ 0.90: %s; on/proxyjump %.3f, target ≥ 1.00: %s\n", v,
			on/off, stats.Verdict(on/off >= 0.9), on/pj, stats.Verdict(on/pj >= 1))
		ghCPU := func(r bulkRun) time.Duration { return r.ghCPU }
		onCPU, offCPU := perGiB(b.runs["gatehouse-"+v], ghCPU), perGiB(b.runs["gatehouse-"+recStealth], ghCPU)
		fmt.Fprintf(w, "recording %s: gatehouse CPU per GiB relayed %.2f s (proxyjump: jump sshd %.2f s per GiB)\n", v,
			onCPU, perGiB(b.runs["proxyjump"], func(r bulkRun) time.Duration { return r.jumpCPU }))
		// What the recording itself costs, the figure that stays steady under load (the
		// throughput ratios swing with what else runs on the cores): medians, on − off.
		fmt.Fprintf(w, "recording %s: its own cost, gatehouse CPU per GiB on − off: %.2f s (off: %.2f s)\n", v, onCPU-offCPU, offCPU)
		compactCPU := perGiB(b.runs["gatehouse-"+v], func(r bulkRun) time.Duration { return r.compactCPU })
		fmt.Fprintf(w, "recording %s: compaction after the session (idle CPU, off the relay's path): %.2f CPU-s per GiB, %.1f s per run (median)\n", v,
			compactCPU, med(b.runs["gatehouse-"+v], func(r bulkRun) float64 { return r.compactWait.Seconds() }))
	}
	// Each pair of one run: on/off per run, for a range rather than a ratio of medians.
	if on := b.runs["gatehouse-"+recGatehouse]; on != nil {
		offRuns := b.runs["gatehouse-"+recStealth]
		var xs []float64
		for i := range min(len(on), len(offRuns)) {
			xs = append(xs, on[i].mbps()/offRuns[i].mbps())
		}
		fmt.Fprintf(w, "recording gatehouse: on/off per paired run: %.3f\n", xs)
	}
}

func (r *report) printIdle(w io.Writer, o options) {
	for _, i := range r.idle {
		target := "OpenSSH sshd (a sleep per session)"
		if o.goTarget {
			target = "the light Go target (bench/internal/lighttarget)"
		}
		conns := (i.sessions + o.perConn - 1) / o.perConn
		fmt.Fprintf(w, "\n## %d concurrent idle relayed sessions on one fresh gatehouse (%s store), to %s, on %d client connections (%d session(s) each), %d wave(s) opened %d connections at a time and ended\n\n",
			i.sessions, i.name, target, conns, o.perConn, len(i.waves), o.parallel)
		fmt.Fprintln(w, "| when | opened in (s) | gatehouse PSS (KiB) | per session (KiB) | Pss_Anon (KiB) | Go heap in use per session (KiB) | Go stacks per session (KiB) | threads | goroutines | per session | round trips | in (s) | gatehouse CPU per session opened (ms) | target sshd tree PSS (KiB) | per session (KiB) | target processes |")
		fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
		fmt.Fprintf(w, "| fresh | | %d | | %d | %d (all) | %d (all) | %d | %d | | | | | %d | | %d |\n", i.before.ghPss, i.before.ghAnon, i.before.heap, i.before.stack,
			i.before.ghThreads, i.before.goroutines, i.before.targetPss, i.before.targetProcs)
		n := float64(i.sessions)
		for k, s := range i.waves {
			prev := i.before.cpu
			if k > 0 {
				prev = i.waves[k-1].cpu // the previous wave's end and its closing count in this one
			}
			rt := "n/a (sshd target)" // only the light target echoes
			if o.goTarget {
				rt = fmt.Sprintf("%d | %.1f", s.roundTrips, s.roundTrip.Seconds())
			} else {
				rt += " |"
			}
			fmt.Fprintf(w, "| wave %d open | %.1f | %d | %.1f | %d | %.1f | %.1f | %d | %d | %.2f | %s | %.2f | %d | %.1f | %d (%d held) |\n", k+1, s.open.Seconds(), s.ghPss, i.perSession(k),
				s.ghAnon, (float64(s.heap)-float64(i.before.heap))/n, (float64(s.stack)-float64(i.before.stack))/n,
				s.ghThreads, s.goroutines, float64(s.goroutines-i.before.goroutines)/n, rt,
				float64((s.cpu-prev).Milliseconds())/n, s.targetPss, (float64(s.targetPss)-float64(i.before.targetPss))/n, s.targetProcs, s.sleeping)
		}
		fmt.Fprintln(w)
		for k := range i.waves {
			fmt.Fprintf(w, "%s wave %d: no error; gatehouse %.1f KiB per idle relayed session; target < 150 KiB: %s; aim 100 KiB: %s\n", i.name, k+1, i.perSession(k),
				stats.Verdict(i.perSession(k) < 150), stats.Verdict(i.perSession(k) <= 100))
		}
	}
}

// loadAverage is the machine's 1, 5 and 15 minute load averages now ("?" where unknown).
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "?"
}
