package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/audit"
	"gatehouse/internal/store"
	"gatehouse/internal/testenv"
)

func TestSessionsAreRecordedListedAndAudited(t *testing.T) {
	b := testenv.Start(t, testenv.Options{Config: "metricsListen = \"127.0.0.1:0\"\n"})
	sshd, aliceKey := targetSetup(t, b)
	dest := fmt.Sprintf("%s@127.0.0.1", sshd.User)

	// An interactive session on the target with UTF-8 output and a resize.
	term := b.SSHTerminal(aliceKey, "alice", 90, 25, dest, "-p", fmt.Sprint(sshd.Port))
	off := term.Expect(0, "Connecting...", 10*time.Second)
	term.Send("echo h\u00e9llo w\u00f6rld \u2603; stty size\r")
	term.Expect(off, "25 90", 10*time.Second)
	term.Resize(100, 30)
	time.Sleep(200 * time.Millisecond)
	term.Send("exit 3\r")
	if code := term.Wait(10 * time.Second); code != 3 {
		t.Fatalf("exit %d", code)
	}
	// An --osh command and a refused connection.
	b.SSH(aliceKey, "alice", "--osh", "info")
	b.SSH(aliceKey, "alice", "root@127.0.0.1", "-p", "1")

	// Rows are completed just after the exit status reaches the client: poll briefly.
	var sshSess, oshSess, denied map[string]any
	var list []any
	for try := 0; try < 50 && (sshSess == nil || oshSess == nil || denied == nil); try++ {
		time.Sleep(time.Duration(try) * 20 * time.Millisecond)
		r := b.SSH(aliceKey, "alice", "--json-greppable", "--osh", "selfListSessions")
		list, _ = r.JSON()["value"].([]any) // null when empty (OK_EMPTY)
		sshSess, oshSess, denied = nil, nil, nil
		for _, it := range list {
			m := it.(map[string]any)
			switch {
			case m["type"] == "ssh" && m["allowed"] == float64(1) && m["status"] == "closed":
				sshSess = m
			case m["type"] == "osh" && m["plugin"] == "info" && m["status"] == "closed":
				oshSess = m
			case m["type"] == "ssh" && m["allowed"] == float64(0) && m["status"] == "closed":
				denied = m
			}
		}
	}
	if sshSess == nil || oshSess == nil || denied == nil {
		t.Fatalf("sessions missing from the list: %v", list)
	}
	if sshSess["returnvalue"] != float64(3) || sshSess["status"] != "closed" || sshSess["ipto"] != "127.0.0.1" {
		t.Fatalf("ssh session row: %v", sshSess)
	}
	if r := b.SSH(aliceKey, "alice", "--json-greppable", "--osh", "selfListSessions", "--denied"); len(r.JSON()["value"].([]any)) != 1 {
		t.Fatalf("--denied: %v", r.JSON())
	}
	// The recording plays in the real asciinema and shows what the terminal showed.
	rows, _ := b.App.Store.ListSessions(context.Background(), store.SessionFilter{ID: sshSess["id"].(string)})
	path := rows[0].Recording
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("recording %s: %v %v", path, err, st.Mode())
	}
	if dst, _ := os.Stat(filepath.Dir(path)); dst.Mode().Perm() != 0o700 {
		t.Fatalf("recording directory mode %v", dst.Mode().Perm())
	}
	if !strings.Contains(filepath.Base(path), sshSess["id"].(string)) || !strings.Contains(filepath.Base(path), ".alice.") {
		t.Fatalf("recording name %s lacks the id or account", path)
	}
	out := testenv.AsciinemaCat(t, path)
	if !strings.Contains(out, "h\u00e9llo w\u00f6rld \u2603") || !strings.Contains(out, "will try the following accesses") {
		t.Fatalf("asciinema cat:\n%s", out)
	}
	if cast := testenv.RecordingCast(t, path); !strings.Contains(cast, `"r", "100x30"`) && !strings.Contains(cast, `"r","100x30"`) {
		t.Fatalf("resize event not recorded:\n%.2000s", cast)
	}
	data, _ := os.ReadFile(path)
	sum := sha256.Sum256(data)
	// The audit log holds the session's close with the recording's SHA-256.
	b.Stop()
	files, _ := audit.Files(filepath.Join(b.DataDir, "audit"))
	var found bool
	var types []string
	for _, f := range files {
		body, _ := os.ReadFile(f)
		for _, l := range strings.Split(string(body), "\n") {
			if strings.Contains(l, `"type":"session.close"`) && strings.Contains(l, hex.EncodeToString(sum[:])) {
				found = true
			}
			if i := strings.Index(l, `"type":"`); i >= 0 {
				types = append(types, strings.SplitN(l[i+8:], `"`, 2)[0])
			}
		}
	}
	if !found {
		t.Fatalf("no session.close with the recording's SHA-256 %x", sum)
	}
	for _, want := range []string{"auth", "session.open", "connection.open", "connection.close", "connection.denied", "osh.command", "hostkey.learned"} {
		if !contains(types, want) {
			t.Errorf("audit log has no %s event (types: %v)", want, types)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestMetricsAndHealth(t *testing.T) {
	b := testenv.Start(t, testenv.Options{Config: "metricsListen = \"127.0.0.1:0\"\n"})
	b.Admin("--osh", "info")
	b.SSH(b.AdminKey, "nobody-here", "--osh", "info")
	deadline := time.Now().Add(5 * time.Second)
	for b.App.MetricsAddr == "" && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	get := func(p string) (int, string) {
		resp, err := http.Get("http://" + b.App.MetricsAddr + p)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, body := get("/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("/healthz: %d %q", code, body)
	}
	_, body := get("/metrics")
	for _, want := range []string{
		`gatehouse_authentications_total{method="publickey",result="ok"}`,
		`gatehouse_osh_commands_total{result="ok"} 1`,
		"gatehouse_connections_accepted_total 2",
		"gatehouse_recording_bytes_total",
		"gatehouse_sessions_active 0",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// TestSecretsStayOutOfRecordings: what selfMFASetupTOTP shows (the seed, the scratch codes) must
// not be readable by whoever may play the session later.
func TestSecretsStayOutOfRecordings(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	r := b.Admin("--osh", "selfMFASetupTOTP", "--no-confirm")
	i := strings.Index(r.Stdout, "Your new secret key is: ")
	if r.Exit != 0 || i < 0 {
		t.Fatalf("setup: %d %s", r.Exit, r.Stdout)
	}
	secret := strings.Fields(r.Stdout[i+len("Your new secret key is: "):])[0]
	b.Stop()
	files, _ := filepath.Glob(filepath.Join(b.DataDir, "recordings", "admin", "*selfMFASetupTOTP*"))
	if len(files) != 1 {
		t.Fatalf("recording of the setup: %v", files)
	}
	data := testenv.RecordingCast(t, files[0])
	if strings.Contains(string(data), secret) || strings.Contains(string(data), "scratch codes are") {
		t.Fatal("the TOTP secret reached the session recording")
	}
	if !strings.Contains(string(data), "holds a secret and is not recorded") {
		t.Fatalf("no marker in the recording:\n%s", data)
	}
}

func TestPlaySessionOwnAndAuditor(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	bobKey := b.CreateAccount("bob")
	carolKey := b.CreateAccount("carol")
	b.SSH(bobKey, "bob", "--osh", "info")
	var id string
	for try := 0; try < 50 && id == ""; try++ {
		time.Sleep(time.Duration(try) * 20 * time.Millisecond)
		r := b.SSH(bobKey, "bob", "--json-greppable", "--osh", "selfListSessions", "--type", "osh")
		vals, _ := r.JSON()["value"].([]any) // null when empty (OK_EMPTY)
		for _, it := range vals {
			if m := it.(map[string]any); m["plugin"] == "info" && m["status"] == "closed" {
				id = m["id"].(string)
			}
		}
	}
	if id == "" {
		t.Fatal("bob's info session is not listed")
	}
	r := b.SSH(bobKey, "bob", "--osh", "selfPlaySession", "--id", id, "--speed", "100")
	if r.Exit != 0 || !strings.Contains(r.Stdout, "You are bob") {
		t.Fatalf("bob plays his session: %d %q", r.Exit, r.Stdout)
	}
	// carol may not play bob's session, through either command.
	if r = b.SSH(carolKey, "carol", "--json-greppable", "--osh", "selfPlaySession", "--id", id); r.Code() != "ERR_NOT_FOUND" {
		t.Fatalf("carol plays bob's session: %s", r.Code())
	}
	if r = b.SSH(carolKey, "carol", "--json-greppable", "--osh", "accountPlaySession", "--id", id); r.Exit != 106 {
		t.Fatalf("carol without the auditor role: exit %d", r.Exit)
	}
	// As an auditor she may.
	b.MustOK("--osh", "accountGrantCommand", "--account", "carol", "--command", "auditor")
	r = b.SSH(carolKey, "carol", "--osh", "accountPlaySession", "--id", id, "--speed", "100")
	if r.Exit != 0 || !strings.Contains(r.Stdout, "You are bob") {
		t.Fatalf("auditor plays bob's session: %d %q", r.Exit, r.Stdout)
	}
	r = b.SSH(carolKey, "carol", "--json-greppable", "--osh", "accountListSessions", "--account", "bob")
	if r.Exit != 0 || len(r.JSON()["value"].([]any)) == 0 {
		t.Fatalf("auditor lists bob's sessions: %d %v", r.Exit, r.JSON())
	}
}
