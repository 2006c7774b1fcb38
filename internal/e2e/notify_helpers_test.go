package e2e

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/audit"
	"gatehouse/internal/store"
	"gatehouse/internal/testenv"
)

// hookReq is one request a stand-in chat service received.
type hookReq struct {
	Method, Path, Query string
	Header              http.Header
	Body                []byte
	At                  time.Time
}

// JSON decodes the body (fails the test when it is not a JSON object).
func (r hookReq) JSON(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("%s body is not a JSON object: %v\n%s", r.Path, err, r.Body)
	}
	return m
}

// hook stands in for one chat service on 127.0.0.1: it records every request and answers as
// its kind does, unless the test scripts another answer.
type hook struct {
	*httptest.Server
	kind    string
	mu      sync.Mutex
	reqs    []hookReq
	respond func(w http.ResponseWriter, r *http.Request, n int)
}

// okAnswer is what each service answers when it accepts a message.
var okAnswer = map[string]struct {
	status int
	body   string
}{
	"slack": {200, "ok"}, "teams-workflow": {202, ""}, "teams-connector": {200, "1"},
	"discord": {200, `{"id":"1188","channel_id":"42","content":"…"}`}, "mattermost": {200, "ok"},
	"ntfy": {200, `{"id":"sPs2","time":1700000000,"event":"message","topic":"ops"}`}, "generic": {204, ""},
}

func newHook(t testing.TB, kind string) *hook {
	h := &hook{kind: kind}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		n := len(h.reqs)
		h.reqs = append(h.reqs, hookReq{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Clone(), body, time.Now()})
		respond := h.respond
		h.mu.Unlock()
		if respond != nil {
			respond(w, r, n)
			return
		}
		a := okAnswer[kind]
		w.WriteHeader(a.status)
		io.WriteString(w, a.body)
	}))
	t.Cleanup(h.Close)
	return h
}

// script replaces the answer (nil: back to the service's own).
func (h *hook) script(f func(w http.ResponseWriter, r *http.Request, n int)) {
	h.mu.Lock()
	h.respond = f
	h.mu.Unlock()
}

func (h *hook) requests() []hookReq {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookReq(nil), h.reqs...)
}

// waitFor waits until a request whose body contains s arrives and returns it.
func (h *hook) waitFor(t testing.TB, s string) hookReq {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		for _, r := range h.requests() {
			if strings.Contains(string(r.Body), s) {
				return r
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s service never received a message containing %q; it got %d requests", h.kind, s, len(h.requests()))
	return hookReq{}
}

// codeIn finds the code posted for session label in a message, whatever the format's markup
// around them (Slack *…* and `…`, Markdown **…**, Mattermost code spans, ntfy plain text).
func codeIn(t testing.TB, body []byte, label string) string {
	t.Helper()
	m := regexp.MustCompile(`Code for session [^A-Z0-9]*` + label + `[^0-9]*?([0-9]{4,12})`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("no code for session %s in the message:\n%s", label, body)
	}
	return string(m[1])
}

var labelRe = regexp.MustCompile(`(?:Code for session|approval of session|a request for session) ([A-Z2-7]{6})`)

// labelAfter reads the session label shown on the terminal after offset from.
func labelAfter(t testing.TB, output func() string, from int) string {
	t.Helper()
	// The label may still be on its way: wait for the line that carries it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		out := output()
		if m := labelRe.FindStringSubmatch(out[min(from, len(out)):]); m != nil {
			return m[1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no session label on the terminal:\n%s", out[min(from, len(out)):])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// channelTOML is the [notify.channels.NAME] table of a hook.
func channelTOML(name string, h *hook, extra string) string {
	s := fmt.Sprintf("[notify.channels.%s]\nkind = %q\nurl = %q\ntimeout = \"2s\"\n", name, h.kind, h.URL+"/hooks/"+name)
	if h.kind == "generic" {
		s += "template = '{\"event\":\"ssh.{{.kind}}\",\"user\":\"{{.account}}\",\"src_ip\":\"{{.source_ip}}\",\"bastion\":\"{{.bastion}}\"," +
			"\"public_code\":\"{{.public_label}}\",\"code\":\"{{.code}}\",\"expires_at\":\"{{.expires_at}}\",\"text\":\"{{.text}}\"}'\n" +
			"secret = \"generic-signing-secret\"\n"
	}
	return s + extra
}

// slackCallback is the body and headers Slack sends when a button is clicked, signed with
// secret at ts (v0: HMAC-SHA256 over "v0:" + ts + ":" + body).
func slackCallback(secret string, ts int64, team, user, action, requestID string) (string, http.Header) {
	payload, _ := json.Marshal(map[string]any{
		"type": "block_actions", "user": map[string]any{"id": user, "username": strings.ToLower(user)},
		"team": map[string]any{"id": team}, "api_app_id": "A0APP",
		"actions": []map[string]any{{"action_id": action, "value": requestID, "type": "button"}},
	})
	body := "payload=" + url.QueryEscape(string(payload))
	tsText := strconv.FormatInt(ts, 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("v0:" + tsText + ":" + body))
	h := http.Header{}
	h.Set("Content-Type", "application/x-www-form-urlencoded")
	h.Set("X-Slack-Request-Timestamp", tsText)
	h.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
	return body, h
}

// post sends body with headers and returns the status.
func post(t testing.TB, u, body string, h http.Header) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = h
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", u, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// slackRequestID reads the request id carried by the Approve button of a Slack message.
func slackRequestID(t testing.TB, r hookReq) string {
	t.Helper()
	var msg struct {
		Blocks []struct {
			Type     string `json:"type"`
			Elements []struct {
				ActionID string `json:"action_id"`
				Value    string `json:"value"`
			} `json:"elements"`
		} `json:"blocks"`
	}
	if err := json.Unmarshal(r.Body, &msg); err != nil {
		t.Fatal(err)
	}
	for _, b := range msg.Blocks {
		for _, e := range b.Elements {
			if b.Type == "actions" && e.ActionID == "gatehouse_approve" && e.Value != "" {
				return e.Value
			}
		}
	}
	t.Fatalf("no Approve button in the Slack message:\n%s", r.Body)
	return ""
}

// links returns the approve and deny links of a message, told apart by their signed action.
func links(t testing.TB, body []byte) (approve, deny string) {
	t.Helper()
	for _, l := range regexp.MustCompile(`http://127\.0\.0\.1:[0-9]+/approval/[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+`).FindAllString(string(body), -1) {
		tok := l[strings.LastIndex(l, "/")+1:]
		raw, err := base64.RawURLEncoding.DecodeString(strings.SplitN(tok, ".", 2)[0])
		if err != nil {
			continue
		}
		var p struct {
			A string `json:"a"`
		}
		_ = json.Unmarshal(raw, &p)
		switch p.A {
		case "approve":
			approve = l
		case "deny":
			deny = l
		}
	}
	if approve == "" || deny == "" {
		t.Fatalf("no approve/deny links in the message:\n%s", body)
	}
	return approve, deny
}

// auditLines returns the audit log's lines of type typ.
func auditLines(t testing.TB, b *testenv.Bastion, typ string) []string {
	t.Helper()
	files, err := audit.Files(filepath.Join(b.DataDir, "audit"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range files {
		data, _ := os.ReadFile(f)
		for _, l := range strings.Split(string(data), "\n") {
			if strings.Contains(l, `"type":"`+typ+`"`) {
				out = append(out, l)
			}
		}
	}
	return out
}

// auditHas waits a little for an audit line of type typ containing every string of want.
func auditHas(t testing.TB, b *testenv.Bastion, typ string, want ...string) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
	lines:
		for _, l := range auditLines(t, b, typ) {
			for _, w := range want {
				if !strings.Contains(l, w) {
					continue lines
				}
			}
			return l
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no %s audit entry with %q; entries of that type:\n%s", typ, want, strings.Join(auditLines(t, b, typ), "\n"))
	return ""
}

// group makes a group whose members are accounts, with an MFA requirement.
func group(t testing.TB, b *testenv.Bastion, name, mfaRequired string, members ...string) {
	t.Helper()
	ctx := context.Background()
	if err := b.App.Store.CreateGroup(ctx, store.Group{Name: name, CreatedAt: time.Now(), CreatedBy: "admin", MFARequired: mfaRequired,
		IdleLockTimeout: -1, IdleKillTimeout: -1}); err != nil {
		t.Fatal(err)
	}
	for _, m := range members {
		if _, err := b.App.Store.SetRole(ctx, name, store.RoleMember, m, true); err != nil {
			t.Fatal(err)
		}
	}
}
