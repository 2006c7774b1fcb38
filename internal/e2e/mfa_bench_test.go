package e2e

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"syscall"
	"testing"
	"time"

	"gatehouse/internal/testenv"
)

// BenchmarkMFALogin compares a whole login with the real ssh client, from the start of the
// client to the first byte of the command's output, with the key only and with the key then a
// TOTP code (asked by keyboard-interactive, answered by oathtool through SSH_ASKPASS). Runs
// alternate to cancel drift; each TOTP login uses its own account, since a code is accepted
// once. Server CPU is this process's user+system time around each login (the bastion runs
// in-process; the clients are children, not counted).
//
//	go test -run '^$' -bench MFALogin -benchtime 200x ./internal/e2e/
func BenchmarkMFALogin(b *testing.B) {
	bastion := testenv.Start(b, testenv.Options{})
	keyFile, pub := testenv.NewKey(b, "ed25519", "bench")
	ask := askpass(b)
	n := b.N
	var keyOnly, withTOTP []string
	for i := range n {
		keyOnly = append(keyOnly, fmt.Sprintf("k%d", i))
		withTOTP = append(withTOTP, fmt.Sprintf("t%d", i))
	}
	createAccounts(b, bastion, pub, append(keyOnly, withTOTP...)...)
	secrets := make([]string, n)
	for i, name := range withTOTP {
		secrets[i] = enrolTOTP(b, bastion, name)
	}
	type sample struct{ wall, cpu time.Duration }
	var key, tot []sample
	login := func(account, secret string) sample {
		args := append(kbdArgs(bastion, kbdOpts{key: keyFile}, account), "--", "--osh", "info")
		cmd := exec.Command("ssh", args...)
		cmd.Env = append(os.Environ(), "SSH_ASKPASS="+ask, "SSH_ASKPASS_REQUIRE=force", "DISPLAY=:0", "GH_TOTP_SECRET="+secret)
		out, err := cmd.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		c0 := cpuTime()
		t0 := time.Now()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		r := bufio.NewReader(out)
		if _, err := r.ReadByte(); err != nil {
			b.Fatalf("%s: no output: %v", account, err)
		}
		wall := time.Since(t0)
		_, _ = r.WriteTo(discard{})
		if err := cmd.Wait(); err != nil {
			b.Fatalf("%s: %v", account, err)
		}
		return sample{wall, cpuTime() - c0}
	}
	b.ResetTimer()
	for i := range n {
		key = append(key, login(keyOnly[i], ""))
		tot = append(tot, login(withTOTP[i], secrets[i]))
	}
	b.StopTimer()
	med := func(s []sample, f func(sample) time.Duration) time.Duration {
		v := make([]time.Duration, len(s))
		for i := range s {
			v[i] = f(s[i])
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	wall := func(s sample) time.Duration { return s.wall }
	cpu := func(s sample) time.Duration { return s.cpu }
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(med(key, wall)), "key-wall-ms")
	b.ReportMetric(ms(med(tot, wall)), "totp-wall-ms")
	b.ReportMetric(ms(med(key, cpu)), "key-cpu-ms")
	b.ReportMetric(ms(med(tot, cpu)), "totp-cpu-ms")
	b.ReportMetric(0, "ns/op")
	if n >= 20 {
		var sumK, sumT time.Duration
		for i := range n {
			sumK += key[i].cpu
			sumT += tot[i].cpu
		}
		b.Logf("%d logins each: median wall key %.2f ms, key+TOTP %.2f ms (+%.2f ms); server CPU per login mean key %.2f ms, key+TOTP %.2f ms (+%.2f ms), median %.2f / %.2f ms",
			n, ms(med(key, wall)), ms(med(tot, wall)), ms(med(tot, wall)-med(key, wall)),
			ms(sumK/time.Duration(n)), ms(sumT/time.Duration(n)), ms((sumT-sumK)/time.Duration(n)), ms(med(key, cpu)), ms(med(tot, cpu)))
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// cpuTime is this process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
