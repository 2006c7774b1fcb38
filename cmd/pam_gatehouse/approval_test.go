package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const slackSecret = "pam-approval-slack-secret"

// slackClick posts the callback Slack sends when user clicks a button of request id, signed
// as Slack signs it, and returns the HTTP status.
func slackClick(t *testing.T, callback, user, action, id string) int {
	t.Helper()
	payload, _ := json.Marshal(map[string]any{
		"type": "block_actions", "user": map[string]any{"id": user, "username": strings.ToLower(user)},
		"team": map[string]any{"id": "T0TEAM"}, "api_app_id": "A0APP",
		"actions": []map[string]any{{"action_id": action, "value": id, "type": "button"}},
	})
	body := "payload=" + url.QueryEscape(string(payload))
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	mac := hmac.New(sha256.New, []byte(slackSecret))
	mac.Write([]byte("v0:" + ts + ":" + body))
	req, _ := http.NewRequest(http.MethodPost, callback, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// requestID waits for the n-th chat message and returns the request id its Approve button carries.
func (h *chatHook) requestID(t *testing.T, n int) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		h.mu.Lock()
		var msg string
		if len(h.msgs) >= n {
			msg = h.msgs[n-1]
		}
		h.mu.Unlock()
		if msg != "" {
			var m struct {
				Blocks []struct {
					Elements []struct {
						ActionID string `json:"action_id"`
						Value    string `json:"value"`
					} `json:"elements"`
				} `json:"blocks"`
			}
			_ = json.Unmarshal([]byte(msg), &m)
			for _, b := range m.Blocks {
				for _, e := range b.Elements {
					if e.ActionID == "gatehouse_approve" && e.Value != "" {
						return e.Value
					}
				}
			}
			t.Fatalf("no Approve button in %s", msg)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no chat message %d", n)
	return ""
}

// pamtesterBG starts pamtester as user with the ticket; wait returns whether PAM said yes and
// what it printed.
func pamtesterBG(t *testing.T, service, user, tkt, stdin string) (wait func() (bool, string), output func() string) {
	t.Helper()
	cmd := exec.Command("pamtester", "-v", service, user, "authenticate")
	cmd.Env = []string{"PATH=/usr/bin:/bin", "GATEHOUSE_TICKET=" + tkt}
	cmd.Stdin = strings.NewReader(stdin)
	var mu sync.Mutex
	var out strings.Builder
	w := writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return out.Write(p) })
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	output = func() string { mu.Lock(); defer mu.Unlock(); return out.String() }
	return func() (bool, string) {
		err := cmd.Wait()
		return err == nil && strings.Contains(output(), "successfully authenticated"), output()
	}, output
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// A colleague's approval as the server's factor (web4, for pamtester as root): the module
// tells the person it waits, the bastion posts the request to the team's Slack; the requester's
// own click is refused (four eyes) and the module keeps waiting; bob's signed click lets it
// through, audited "approved by bob"; the click replayed is refused; a denial, an expiry, the
// module's own time limit and a channel that is down refuse. Per command, under the real sudo:
// `sudo /bin/true` asks the TOTP (a rule), `sudo /usr/bin/true` the server's approval.
func TestModuleApproval(t *testing.T) {
	need(t)
	hook := newChatHook(t)
	s := startSite(t, "approvalListen = \"127.0.0.1:0\"\n[notify]\napprovals = [\"ops\"]\n"+
		fmt.Sprintf("[notify.channels.ops]\nkind = \"slack\"\nurl = %q\ntimeout = \"2s\"\n", hook.URL+"/hooks/ops")+
		"[notify.approval]\nttl = \"10s\"\nslack_signing_secret = \""+slackSecret+"\"\nslack_team_id = \"T0TEAM\"\nslack_app_id = \"A0APP\"\n")
	secret := s.person(t, "alice")
	s.person(t, "bob")
	s.b.MustOK("--osh", "accountModify", "--account", "alice", "--slack-user-id", "T0TEAM/U0ALICE")
	s.b.MustOK("--osh", "accountModify", "--account", "bob", "--slack-user-id", "T0TEAM/U0BOB")
	callback := "http://" + s.b.App.Notify.ApprovalAddr() + "/slack/interactive"
	svc := pamService(t, s.args("web4", "approval_wait=30s")...)
	tk := s.ticketFor(t, s.ticketKey, "alice", "web4", "10.9.9.11", time.Now(), time.Hour)

	// Approved by bob, after alice's own click was refused.
	wait, output := pamtesterBG(t, svc, "root", tk, "")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("first pamtester:\n%s", output())
		}
	})
	id := hook.requestID(t, 1)
	if got := slackClick(t, callback, "U0ALICE", "gatehouse_approve", id); got == http.StatusOK {
		t.Fatalf("alice approved her own sudo: HTTP %d", got)
	}
	if got := slackClick(t, callback, "U0BOB", "gatehouse_approve", id); got != http.StatusOK {
		t.Fatalf("bob's approval: HTTP %d", got)
	}
	ok, out := wait()
	if !ok || !strings.Contains(out, "waiting for approval of session") {
		t.Fatalf("approved sudo refused:\n%s", out)
	}
	if c := lastComment(t, s.b); !strings.Contains(c, "on web4 by alice as root: approved by bob") {
		t.Fatalf("audit comment %q", c)
	}
	if got := slackClick(t, callback, "U0BOB", "gatehouse_approve", id); got == http.StatusOK {
		t.Fatalf("a replayed approval was accepted: HTTP %d", got)
	}

	// Denied by bob.
	wait, _ = pamtesterBG(t, svc, "root", tk, "")
	id = hook.requestID(t, 2)
	if got := slackClick(t, callback, "U0BOB", "gatehouse_deny", id); got != http.StatusOK {
		t.Fatalf("bob's denial: HTTP %d", got)
	}
	if ok, out := wait(); ok || !strings.Contains(out, "denied by bob") {
		t.Fatalf("denied sudo: allowed=%v\n%s", ok, out)
	}
	if c := lastComment(t, s.b); !strings.Contains(c, "refused: denied by bob") {
		t.Fatalf("audit comment %q", c)
	}

	// Nobody answers: the request expires (10 s), refused and audited; a late click finds nothing.
	wait, _ = pamtesterBG(t, svc, "root", tk, "")
	id = hook.requestID(t, 3)
	if ok, out := wait(); ok || !strings.Contains(out, "approval expired") {
		t.Fatalf("expired approval: allowed=%v\n%s", ok, out)
	}
	if got := slackClick(t, callback, "U0BOB", "gatehouse_approve", id); got == http.StatusOK {
		t.Fatalf("an approval after expiry was accepted")
	}

	// The module's own limit is shorter than the request's life: no.
	short := pamService(t, s.args("web4", "approval_wait=1s")...)
	wait, _ = pamtesterBG(t, short, "root", tk, "")
	hook.requestID(t, 4)
	if ok, out := wait(); ok || !strings.Contains(out, "no approval in time") {
		t.Fatalf("module time limit: allowed=%v\n%s", ok, out)
	}

	// Per command, under the real sudo of a local user whose sudo asks through this service.
	if _, err := exec.LookPath("sudo"); err == nil {
		user := unixUser(t, svc)
		sudo := func(stdin string, cmd ...string) (func() (bool, string), func() string) {
			c := exec.Command("runuser", append([]string{"-u", user, "--", "env", "-i", "PATH=/usr/bin:/bin", "GATEHOUSE_TICKET=" + tk, "sudo", "-S"}, cmd...)...)
			c.Stdin = strings.NewReader(stdin)
			var mu sync.Mutex
			var out strings.Builder
			w := writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return out.Write(p) })
			c.Stdout, c.Stderr = w, w
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			output := func() string { mu.Lock(); defer mu.Unlock(); return out.String() }
			return func() (bool, string) { err := c.Wait(); return err == nil, output() }, output
		}
		wait, _ := sudo(oathtool(t, secret, "")+"\n", "/bin/true")
		if ok, out := wait(); !ok || !strings.Contains(out, "TOTP") {
			t.Fatalf("sudo /bin/true with the TOTP:\n%s", out)
		}
		if c := lastComment(t, s.b); !strings.Contains(c, "sudo on web4 by alice as "+user+": TOTP ok") {
			t.Fatalf("audit comment %q", c)
		}
		wait, _ = sudo("", "/usr/bin/true")
		id := hook.requestID(t, 5)
		if got := slackClick(t, callback, "U0BOB", "gatehouse_approve", id); got != http.StatusOK {
			t.Fatalf("bob's approval: HTTP %d", got)
		}
		if ok, out := wait(); !ok || !strings.Contains(out, "waiting for approval") {
			t.Fatalf("sudo /usr/bin/true approved:\n%s", out)
		}
		if c := lastComment(t, s.b); !strings.Contains(c, "sudo on web4 by alice as "+user+": approved by bob") {
			t.Fatalf("audit comment %q", c)
		}
	}

	// The channel is down: refused before any wait.
	hook.down.Store(true)
	if ok, out := pamtester(t, svc, "root", tk, ""); ok || !strings.Contains(out, "approval not delivered") || strings.Contains(out, "waiting") {
		t.Fatalf("undelivered approval: allowed=%v\n%s", ok, out)
	}
	if c := lastComment(t, s.b); !strings.Contains(c, "refused: approval not delivered") {
		t.Fatalf("audit comment %q", c)
	}
}
