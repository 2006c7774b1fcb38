package e2e

import (
	"io"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"gatehouse/internal/testenv"
)

// scrapeSample reads one sample (name with its labels, as /metrics prints it) from a scrape;
// -1 when absent.
func scrapeSample(t *testing.T, b *testenv.Bastion, sample string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + b.App.MetricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(sample) + ` (\S+)$`).FindSubmatch(body)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

func waitMetrics(t *testing.T, b *testenv.Bastion) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for b.App.MetricsAddr == "" {
		if time.Now().After(deadline) {
			t.Fatal("metrics listener never started")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestOpsMetricsMove: after a login with a wrong then a right TOTP code, /metrics counts the
// failure and the success for the totp factor; an account locked by failures shows in the
// locked gauge and its next try as a refusal "locked"; the audit log's last signed seq is
// exported; the per-source refusals and recording counters are there for alerts.
func TestOpsMetricsMove(t *testing.T) {
	b := testenv.Start(t, testenv.Options{Config: "metricsListen = \"127.0.0.1:0\"\nMFARateLimitAttempts = 10\nMFALockAfterFailures = 2\n"})
	waitMetrics(t, b)
	key := b.CreateAccount("alice")
	b.MustOK("--osh", "accountModify", "--account", "alice", "--mfa-totp-required", "yes")
	secret := enrolTOTP(t, b, "alice")

	failBefore := scrapeSample(t, b, `gatehouse_mfa_total{factor="totp",result="fail"}`)
	passBefore := scrapeSample(t, b, `gatehouse_mfa_total{factor="totp",result="pass"}`)
	term := startKbd(t, b, kbdOpts{key: key}, "alice", "--json-greppable", "--osh", "info")
	off := term.expect(0, "Verification code: ")
	code := oathtool(t, secret, "")
	term.send(wrongCode(code) + "\n")
	term.expect(off, "Verification code: ")
	term.send(code + "\n")
	if exit, res := term.wait(); exit != 0 || res.Code() != "OK" {
		t.Fatalf("TOTP login: exit %d\n%s", exit, res.Stdout)
	}
	if got := scrapeSample(t, b, `gatehouse_mfa_total{factor="totp",result="fail"}`); got != max(failBefore, 0)+1 {
		t.Errorf("totp failures: %v after %v, want one more", got, failBefore)
	}
	if got := scrapeSample(t, b, `gatehouse_mfa_total{factor="totp",result="pass"}`); got != max(passBefore, 0)+1 {
		t.Errorf("totp passes: %v after %v, want one more", got, passBefore)
	}

	// Two wrong codes lock bob's TOTP (MFALockAfterFailures = 2); his next try is refused.
	bobKey := b.CreateAccount("bob")
	b.MustOK("--osh", "accountModify", "--account", "bob", "--mfa-totp-required", "yes")
	bobSecret := enrolTOTP(t, b, "bob")
	if got := scrapeSample(t, b, "gatehouse_mfa_locked_accounts"); got != 0 {
		t.Errorf("locked accounts before: %v", got)
	}
	term = startKbd(t, b, kbdOpts{key: bobKey}, "bob", "--osh", "info")
	off = 0
	for i := 0; i < 2; i++ {
		off = term.expect(off, "Verification code: ")
		term.send(wrongCode(oathtool(t, bobSecret, "")) + "\n")
	}
	term.wait()
	if got := scrapeSample(t, b, "gatehouse_mfa_locked_accounts"); got != 1 {
		t.Errorf("locked accounts after bob's failures: %v, want 1", got)
	}
	term = startKbd(t, b, kbdOpts{key: bobKey}, "bob", "--osh", "info")
	term.wait()
	if got := scrapeSample(t, b, `gatehouse_mfa_refused_total{factor="totp",reason="locked"}`); got < 1 {
		t.Errorf("refusals for a locked factor: %v", got)
	}
	// The lock runs out after MFALockUnlockTime (300 s, The Bastion's unlock_time): no longer counted.
	b.Clock.Advance(301 * time.Second)
	if got := scrapeSample(t, b, "gatehouse_mfa_locked_accounts"); got != 0 {
		t.Errorf("locked accounts after unlock_time: %v, want 0", got)
	}

	if got := scrapeSample(t, b, "gatehouse_audit_last_signed_seq"); got < 1 {
		t.Errorf("audit last signed seq: %v (the start checkpoint is signed)", got)
	}
	for _, present := range []string{"gatehouse_approvals_pending", "gatehouse_connections_refused_per_source_total",
		"gatehouse_connections_refused_penalty_total", "gatehouse_recording_bytes_total", "gatehouse_recording_errors_total",
		"gatehouse_audit_write_failures_total"} {
		if scrapeSample(t, b, present) < 0 {
			t.Errorf("%s is not exported", present)
		}
	}
}
