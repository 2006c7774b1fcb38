package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// chatHook stands in for a Slack incoming webhook: it keeps the messages, or fails when told.
type chatHook struct {
	*httptest.Server
	mu   sync.Mutex
	msgs []string
	down atomic.Bool
}

func newChatHook(t *testing.T) *chatHook {
	h := &chatHook{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h.down.Load() {
			http.Error(w, "no", http.StatusInternalServerError)
			return
		}
		b, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.msgs = append(h.msgs, string(b))
		h.mu.Unlock()
		io.WriteString(w, "ok")
	}))
	t.Cleanup(h.Close)
	return h
}

var codeRe = regexp.MustCompile(`Code for session [^A-Z0-9]*([A-Z2-7]{6})[^0-9]*?([0-9]{4,12})`)

// code waits for the n-th message and returns its session label and code.
func (h *chatHook) code(t *testing.T, n int) (string, string) {
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
			m := codeRe.FindStringSubmatch(msg)
			if m == nil {
				t.Fatalf("no code in the chat message %s", msg)
			}
			return m[1], m[2]
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no chat message %d", n)
	return "", ""
}

// pamtesterLive runs pamtester and answers with what answer returns once the prompt is due.
func pamtesterLive(t *testing.T, service, tkt string, answer func() string) (bool, string) {
	t.Helper()
	cmd := exec.Command("pamtester", "-v", service, "root", "authenticate")
	cmd.Env = []string{"PATH=/usr/bin:/bin", "GATEHOUSE_TICKET=" + tkt}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	io.WriteString(in, answer()+"\n")
	in.Close()
	err = cmd.Wait()
	return err == nil && strings.Contains(out.String(), "successfully authenticated"), out.String()
}

// A server whose factor is the chat code: the bastion posts a code to the team's channel, the
// person types it at the sudo prompt; a code of an earlier request, or a channel that is down,
// refuses.
func TestModuleChatCode(t *testing.T) {
	need(t)
	hook := newChatHook(t)
	s := startSite(t, fmt.Sprintf("[notify]\ncodes = [\"ops\"]\n[notify.channels.ops]\nkind = \"slack\"\nurl = %q\ntimeout = \"2s\"\n", hook.URL+"/hooks/ops"))
	s.person(t, "alice")
	svc := pamService(t, s.args("web3")...)
	tk := s.ticketFor(t, s.ticketKey, "alice", "web3", "10.9.9.10", time.Now(), time.Hour)

	var first string
	ok, out := pamtesterLive(t, svc, tk, func() string { _, c := hook.code(t, 1); first = c; return c })
	if !ok {
		t.Fatalf("right chat code refused:\n%s", out)
	}
	label, _ := hook.code(t, 1)
	if !strings.Contains(out, "Code posted to the team's chat for session "+label) {
		t.Fatalf("the prompt does not name the session label %s:\n%s", label, out)
	}
	if c := lastComment(t, s.b); !strings.Contains(c, "on web3 by alice as root: chat code ok") {
		t.Fatalf("audit comment %q", c)
	}
	// The first code again, for a new request (which posted a new code): refused.
	if ok, out := pamtesterLive(t, svc, tk, func() string { hook.code(t, 2); return first }); ok {
		t.Fatalf("an old chat code was accepted:\n%s", out)
	}
	if c := lastComment(t, s.b); !strings.Contains(c, "refused: wrong chat code") {
		t.Fatalf("audit comment %q", c)
	}
	// The channel is down: the code is not delivered, the module is told so before any prompt.
	hook.down.Store(true)
	if ok, out := pamtesterLive(t, svc, tk, func() string { return "123456" }); ok || !strings.Contains(out, "chat code not delivered") {
		t.Fatalf("undelivered code: allowed=%v\n%s", ok, out)
	}
	if c := lastComment(t, s.b); !strings.Contains(c, "refused: chat code not delivered") {
		t.Fatalf("audit comment %q", c)
	}
}
