package stats

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// Verdict is how a report states a target.
func Verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

// Machine describes the machine a benchmark ran on, with its load, in one line.
func Machine() string {
	load, _ := os.ReadFile("/proc/loadavg")
	return fmt.Sprintf("machine: %d CPUs (%s), %s RAM, Linux %s, %s, %s; load average %s; %s\n",
		runtime.NumCPU(), CPUModel(), memTotal(), Kernel(), SSHVersion(), runtime.Version(),
		strings.Join(strings.Fields(string(load))[:3], " "), time.Now().UTC().Format(time.RFC3339))
}

// Kernel is the Linux release.
func Kernel() string {
	b, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return strings.TrimSpace(string(b))
}

func memTotal() string {
	b, _ := os.ReadFile("/proc/meminfo")
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "MemTotal:"); ok {
			var kib float64
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), &kib)
			return fmt.Sprintf("%.0f GiB", kib/(1<<20))
		}
	}
	return "? GiB"
}

// CPUModel is the processor name.
func CPUModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

// SSHVersion is what `ssh -V` prints.
func SSHVersion() string {
	out, _ := exec.Command("ssh", "-V").CombinedOutput()
	return strings.TrimSpace(string(out))
}
