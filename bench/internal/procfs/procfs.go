// Package procfs reads what the benchmarks measure of a process from /proc: CPU time and PSS.
package procfs

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ClockTicks is USER_HZ, the unit of the times in /proc/PID/stat. The kernel fixes it at 100 on
// every architecture Go supports on Linux, whatever CONFIG_HZ is.
const ClockTicks = 100

// Stat is the part of /proc/PID/stat the benchmark needs.
type Stat struct {
	PPID           int
	UTime, STime   uint64 // this process, in clock ticks
	CUTime, CSTime uint64 // waited-for Descendants, in clock ticks
}

// ParseStat reads one /proc/PID/stat line. The command name (field 2) is in parentheses and may
// itself hold spaces and parentheses, so the fields are counted from the last ')'.
func ParseStat(line string) (Stat, error) {
	end := strings.LastIndexByte(line, ')')
	if end < 0 {
		return Stat{}, fmt.Errorf("stat line without a command name: %q", line)
	}
	f := strings.Fields(line[end+1:])
	// f[0] is field 3 (state); utime..cstime are fields 14..17.
	if len(f) < 15 {
		return Stat{}, fmt.Errorf("stat line with %d fields after the name, want at least 15", len(f))
	}
	var s Stat
	var err error
	if s.PPID, err = strconv.Atoi(f[1]); err != nil {
		return Stat{}, fmt.Errorf("stat ppid: %w", err)
	}
	for i, p := range []*uint64{&s.UTime, &s.STime, &s.CUTime, &s.CSTime} {
		if *p, err = strconv.ParseUint(f[11+i], 10, 64); err != nil {
			return Stat{}, fmt.Errorf("stat field %d: %w", 14+i, err)
		}
	}
	return s, nil
}

func ReadStat(pid int) (Stat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return Stat{}, err
	}
	return ParseStat(string(b))
}

// CPUTicks is the CPU time of pid and of every descendant it has waited for. sshd's listener
// reaps each connection's monitor, which reaps its children, so this covers a whole sshd login
// once the connection's processes are gone.
func CPUTicks(pid int) (uint64, error) {
	s, err := ReadStat(pid)
	if err != nil {
		return 0, err
	}
	return s.UTime + s.STime + s.CUTime + s.CSTime, nil
}

// ParsePss returns the Pss line of a /proc/PID/smaps_rollup, in KiB.
func ParsePss(b []byte) (uint64, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "Pss:" {
			if len(f) >= 3 && f[2] != "kB" {
				return 0, fmt.Errorf("smaps_rollup Pss in unit %q, want kB", f[2])
			}
			return strconv.ParseUint(f[1], 10, 64)
		}
	}
	return 0, fmt.Errorf("smaps_rollup without a Pss line")
}

func PssKiB(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0, err
	}
	return ParsePss(b)
}

// Descendants returns root and every process below it.
func Descendants(root int) ([]int, error) {
	dirs, err := filepath.Glob("/proc/[0-9]*")
	if err != nil {
		return nil, err
	}
	children := map[int][]int{}
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		s, err := ReadStat(pid)
		if err != nil {
			continue // exited meanwhile
		}
		children[s.PPID] = append(children[s.PPID], pid)
	}
	out := []int{root}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	return out, nil
}

// TreePssKiB sums the PSS of root and its Descendants, and counts them.
func TreePssKiB(root int) (kib uint64, procs int, err error) {
	pids, err := Descendants(root)
	if err != nil {
		return 0, 0, err
	}
	for _, pid := range pids {
		p, err := PssKiB(pid)
		if err != nil {
			if pid == root {
				return 0, 0, err
			}
			continue // a child that exited between the listing and the read
		}
		kib += p
		procs++
	}
	return kib, procs, nil
}
