package main

import (
	"bufio"
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gatehouse/internal/pamverify"
	"gatehouse/internal/testenv"
)

// yesBastion is a stand-in bastion that asks a code and says yes to any: for the tests of the
// module's own machinery, where the bastion's decision is not what is tested.
func yesBastion(t *testing.T) (url, ca string) {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == pamverify.PathStart {
			fmt.Fprint(w, `{"allow":false,"message":"","factor":"totp","prompt":"Code: "}`)
			return
		}
		fmt.Fprint(w, `{"allow":true,"message":"yes"}`)
	}))
	t.Cleanup(srv.Close)
	ca = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	return srv.URL, ca
}

func tokenFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(p, []byte("ght_x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// runAs runs a command as the local user name, with a deadline; it reports whether it exited
// 0 and whether it hit the deadline.
func runAs(t *testing.T, name string, stdin string, env []string, deadline time.Duration, argv ...string) (ok, hung bool, out string) {
	t.Helper()
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	cmd.Env = env
	cmd.Dir = "/"
	cmd.Stdin = strings.NewReader(stdin)
	b, err := cmd.CombinedOutput()
	return err == nil, ctx.Err() != nil, string(b)
}

// TestSudoTrueDoesNotHang runs `sudo -S true` (a command that exits at once) 30 times with the
// module in sudo's PAM stack. With the Go runtime inside sudo's process (the c-shared module
// of before), sudo 1.9.13 lost the command's SIGCHLD about once in ten runs and hung forever
// (sudo#519); the C module keeps Go in its own helper process.
func TestSudoTrueDoesNotHang(t *testing.T) {
	need(t)
	if _, err := exec.LookPath("sudo"); err != nil {
		testenv.Need(t, "needs sudo")
	}
	url, ca := yesBastion(t)
	svc := pamService(t, "url="+url, "token_file="+tokenFile(t), "ca_file="+ca, "timeout=5s", "config=none")
	name := unixUser(t, svc)
	env := []string{"PATH=/usr/bin:/bin", "GATEHOUSE_TICKET=gt1.x.y"}
	for i := range 30 {
		ok, hung, out := runAs(t, name, "123456\n", env, 15*time.Second, "sudo", "-S", "true")
		if hung {
			t.Fatalf("run %d: sudo -S true hung (sudo#519):\n%s", i, out)
		}
		if !ok {
			t.Fatalf("run %d: sudo -S true failed:\n%s", i, out)
		}
	}
}

// readHelloSh reads the module's opening lines (into $OUT when set).
const readHelloSh = `#!/bin/sh
while IFS= read -r l; do [ -n "$OUT" ] && printf '%s\n' "$l" >> "$OUT"; [ "$l" = end ] && break; done
`

// TestModuleFailsClosedOnHelper is the C module's side: whatever the helper does except say
// allow, close and exit 0 — or if it cannot be trusted to be the helper — is a no.
func TestModuleFailsClosedOnHelper(t *testing.T) {
	need(t)
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	script := func(name, body string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(readHelloSh+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := `printf 'prompt-off Code: \n'; IFS= read -r a; [ "$a" = "answer 123456" ] || { echo deny; exit 1; }; echo allow`
	notRoot := script("notroot", good, 0o755)
	if err := os.Chown(notRoot, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	// Directories: one anyone may write to, one of another owner, one sticky (as /tmp).
	subdir := func(name string, mode os.FileMode, uid int) string {
		d := filepath.Join(dir, name)
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(d, uid, uid); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(d, "helper")
		if err := os.WriteFile(p, []byte(readHelloSh+good+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	inOpenDir := subdir("open", 0o777, 0)
	inUserDir := subdir("user", 0o755, 65534)
	inStickyDir := subdir("sticky", 0o777|os.ModeSticky, 0)
	link := filepath.Join(dir, "link")
	if err := os.Symlink(inOpenDir, link); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("x", 3000)
	cases := []struct {
		name  string
		args  []string
		allow bool
	}{
		{"reference: a well-behaved helper", []string{"helper=" + script("good", good, 0o755)}, true},
		{"percent-encoded prompt", []string{"helper=" + script("pct", `printf 'prompt-off 100%%25 sure? \n'; IFS= read -r a; [ "$a" = "answer 123456" ] && echo allow`, 0o755)}, true},
		{"helper missing", []string{"helper=" + filepath.Join(dir, "missing")}, false},
		{"helper not an absolute path", []string{"helper=good"}, false},
		{"helper not owned by root", []string{"helper=" + notRoot}, false},
		{"helper writable by others", []string{"helper=" + script("writable", good, 0o777)}, false},
		{"helper writable by its group", []string{"helper=" + script("groupw", good, 0o775)}, false},
		{"helper a directory", []string{"helper=" + dir}, false},
		{"helper in a directory anyone may write to", []string{"helper=" + inOpenDir}, false},
		{"helper in a directory of another owner", []string{"helper=" + inUserDir}, false},
		{"helper through a symlink into such a directory", []string{"helper=" + link}, false},
		{"helper in a sticky directory (as /tmp)", []string{"helper=" + inStickyDir}, true},
		{"EOF before a verdict", []string{"helper=" + script("eof", `exit 0`, 0o755)}, false},
		{"allow then exit 1", []string{"helper=" + script("exit1", `echo allow; exit 1`, 0o755)}, false},
		{"allow then killed", []string{"helper=" + script("killed", `echo allow; kill -9 $$`, 0o755)}, false},
		{"allow then more", []string{"helper=" + script("more", `echo allow; echo allow`, 0o755)}, false},
		{"deny", []string{"helper=" + script("deny", `echo deny`, 0o755)}, false},
		{"silent helper (wait=1)", []string{"wait=1", "helper=" + script("silent", `sleep 30; echo allow`, 0o755)}, false},
		{"silent after allow (wait=1)", []string{"wait=1", "helper=" + script("lingers", `echo allow; sleep 30`, 0o755)}, false},
		{"garbage verdict", []string{"helper=" + script("yes", `echo yes`, 0o755)}, false},
		{"allow with a trailing space", []string{"helper=" + script("allowsp", `echo 'allow '`, 0o755)}, false},
		{"allow with CRLF", []string{"helper=" + script("crlf", `printf 'allow\r\n'`, 0o755)}, false},
		{"raw escape in a prompt", []string{"helper=" + script("esc", `printf 'info \033[2J\n'; echo allow`, 0o755)}, false},
		{"encoded escape in a prompt", []string{"helper=" + script("pctesc", `printf 'info %%1B[2J\n'; echo allow`, 0o755)}, false},
		{"bad escape", []string{"helper=" + script("badpct", `printf 'info %%G1\n'; echo allow`, 0o755)}, false},
		{"truncated escape", []string{"helper=" + script("trpct", `printf 'info a%%4\n'; echo allow`, 0o755)}, false},
		{"empty prompt", []string{"helper=" + script("emptyp", `printf 'prompt-off \n'; read a; echo allow`, 0o755)}, false},
		{"over-long line", []string{"helper=" + script("long", `printf 'info `+long+`\n'; echo allow`, 0o755)}, false},
		{"over-long text", []string{"helper=" + script("longtext", `printf 'info `+long[:600]+`\n'; echo allow`, 0o755)}, false},
		{"NUL in a line", []string{"helper=" + script("nul", `printf 'info a\000b\n'; echo allow`, 0o755)}, false},
		{"unknown verb", []string{"helper=" + script("verb", `printf 'exec /bin/sh\n'; echo allow`, 0o755)}, false},
		{"too many messages", []string{"helper=" + script("many", `i=0; while [ $i -lt 40 ]; do echo 'info hi'; i=$((i+1)); done; echo allow`, 0o755)}, false},
		{"wait= not a number", []string{"wait=soon", "helper=" + script("good2", good, 0o755)}, false},
		{"wait= out of range", []string{"wait=0", "helper=" + script("good3", good, 0o755)}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			svc := pamServiceRaw(t, c.args...)
			start := time.Now()
			ok, out := pamtester(t, svc, "root", "gt1.x.y", "123456\n")
			if ok != c.allow {
				t.Fatalf("allowed=%v, want %v:\n%s", ok, c.allow, out)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Fatalf("took %s", d)
			}
		})
	}

	// What the module tells the helper: who asks, the ticket, its arguments but not its own.
	rec := filepath.Join(dir, "hello.txt")
	svc := pamServiceRaw(t, "helper="+script("rec", `echo deny`, 0o755), "wait=5", "url=https://b", "odd=a%b")
	cmd := exec.Command("pamtester", "-v", svc, "root", "authenticate")
	cmd.Env = []string{"PATH=/usr/bin:/bin", "GATEHOUSE_TICKET=gt1.x.y"}
	// The module gives its helper a clean environment: OUT reaches it through a wrapper.
	if err := os.WriteFile(filepath.Join(dir, "rec"), []byte("#!/bin/sh\nOUT="+rec+"\n"+readHelloSh[len("#!/bin/sh\n"):]+"echo deny\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, _ = cmd.CombinedOutput()
	hello, err := os.ReadFile(rec)
	if err != nil {
		t.Fatal(err)
	}
	h := string(hello)
	for _, want := range []string{"gatehouse-pam 1\n", "\nservice " + svc + "\n", "\nuser root\n", "\nticket gt1.x.y\n", "\narg url=https://b\n", "\narg odd=a%25b\n", "\nend\n"} {
		if !strings.Contains(h, want) {
			t.Fatalf("hello lacks %q:\n%s", want, h)
		}
	}
	if strings.Contains(h, "helper=") || strings.Contains(h, "wait=") {
		t.Fatalf("the module passed its own arguments on:\n%s", h)
	}
	if _, err := readHello(bufioReader(h)); err != nil {
		t.Fatalf("the helper's parser refuses what the module sends: %v\n%s", err, h)
	}
}

func bufioReader(s string) *bufio.Reader { return bufio.NewReader(strings.NewReader(s)) }

// TestModuleProtocolInjection: a caller who controls GATEHOUSE_TICKET (anyone running sudo)
// tries to add protocol lines — another bastion URL (one that says yes), the end of the hello,
// a verdict — through line breaks in the ticket: it stays one value, and the real bastion's no
// stands.
func TestModuleProtocolInjection(t *testing.T) {
	need(t)
	yesURL, yesCA := yesBastion(t)
	var mu sync.Mutex
	var got []string // the tickets the real bastion received
	no := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Ticket string `json:"ticket"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		mu.Lock()
		got = append(got, req.Ticket)
		mu.Unlock()
		fmt.Fprint(w, `{"allow":false,"message":"no"}`)
	}))
	t.Cleanup(no.Close)
	noCA := filepath.Join(t.TempDir(), "no.pem")
	if err := os.WriteFile(noCA, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: no.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	// Both stand-ins share httptest's certificate, so the injected ca_file is not even needed.
	_ = yesCA
	svc := pamService(t, "url="+no.URL, "token_file="+tokenFile(t), "ca_file="+noCA, "timeout=3s", "config=none")
	for _, tk := range []string{
		"gt1.x.y\narg url=" + yesURL + "\nend",
		"gt1.x.y\nend\nallow",
		"gt1.x.y\r\narg url=" + yesURL,
		"gt1.x.y%0Aarg url=" + yesURL,
	} {
		t.Run(fmt.Sprintf("%q", tk), func(t *testing.T) {
			mu.Lock()
			got = nil
			mu.Unlock()
			if ok, out := pamtester(t, svc, "root", tk, "123456\n"); ok {
				t.Fatalf("allowed:\n%s", out)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(got) != 1 || got[0] != tk {
				t.Fatalf("the real bastion received %q, want the whole ticket once", got)
			}
		})
	}
}

// TestModuleMessagesUnderSilent: the helper's messages are shown even with PAM_SILENT, which
// sudo sets by default ("waiting for approval", why it was refused).
func TestModuleMessagesUnderSilent(t *testing.T) {
	need(t)
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	h := filepath.Join(dir, "helper")
	if err := os.WriteFile(h, []byte(readHelloSh+"echo 'info MESSAGE-SHOWN'; printf 'prompt-off Code: \\n'; read a; echo allow\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	svc := pamServiceRaw(t, "helper="+h)
	for _, op := range []string{"authenticate", "authenticate(PAM_SILENT)"} {
		cmd := exec.Command("pamtester", "-v", svc, "root", op)
		cmd.Stdin = strings.NewReader("123456\n")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "successfully authenticated") {
			t.Fatalf("%s: %v\n%s", op, err, out)
		}
		if !strings.Contains(string(out), "MESSAGE-SHOWN") {
			t.Fatalf("%s: message not shown:\n%s", op, out)
		}
	}
}
