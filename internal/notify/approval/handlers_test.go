package approval

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/notify"
)

const signingSecret = "8f742231b10e8888abcd99yyyzzz85a5"

// slackDirectory maps Slack users to accounts.
type slackDirectory map[string]string

func (d slackDirectory) SlackAccount(_ context.Context, team, user string) (string, error) {
	if a, ok := d[team+"/"+user]; ok {
		return a, nil
	}
	return "", ErrUnknownUser
}

// slackSign signs as Slack does: v0=hex(HMAC-SHA256(secret, "v0:"+ts+":"+body)).
func slackSign(secret, ts, body string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("v0:" + ts + ":" + body))
	return "v0=" + hex.EncodeToString(mac.Sum(nil))
}

// blockActions is the form body Slack posts when a button is clicked.
func blockActions(team, user, actionID, requestID string) string {
	p := map[string]any{
		"type":         "block_actions",
		"user":         map[string]any{"id": user, "username": strings.ToLower(user), "team_id": team},
		"api_app_id":   "A0APP",
		"token":        "deprecated-verification-token",
		"container":    map[string]any{"type": "message", "message_ts": "1700000000.000100"},
		"trigger_id":   "123.456.abc",
		"team":         map[string]any{"id": team, "domain": "acme"},
		"response_url": "https://hooks.slack.com/actions/T0TEAM/1/xyz",
		"actions": []any{map[string]any{
			"action_id": actionID, "block_id": "gatehouse_approval", "value": requestID,
			"type": "button", "action_ts": "1700000001.000200",
			"text": map[string]any{"type": "plain_text", "text": "Approve"},
		}},
	}
	b, _ := json.Marshal(p)
	return url.Values{"payload": {string(b)}}.Encode()
}

type slackFixture struct {
	clock   *clock
	m       *Manager
	obs     *recorder
	chat    *chatService
	handler *httptest.Server
}

func newSlackFixture(t *testing.T) *slackFixture {
	f := &slackFixture{clock: &clock{t: time.Now()}, obs: &recorder{}, chat: newChat(t, 200, "ok")}
	f.m = NewManager(Config{Store: NewMemStore(f.clock.Now), Observer: f.obs, Now: f.clock.Now, Bastion: "bh1", Logger: quiet()})
	h := &SlackHandler{
		SigningSecret: []byte(signingSecret), Manager: f.m, TeamID: "T0TEAM", AppID: "A0APP", Now: f.clock.Now, Logger: quiet(),
		Users: slackDirectory{"T0TEAM/U0ALICE": "alice", "T0TEAM/U0BOB": "bob", "T0TEAM/U0CAROL": "carol", "T0OTHER/U0ALICE": "alice"},
	}
	f.handler = httptest.NewServer(h)
	t.Cleanup(f.handler.Close)
	return f
}

// start posts a request through the stand-in Slack and returns the request
// id as the Approve button carries it.
func (f *slackFixture) start(t *testing.T, fourEyes bool) string {
	t.Helper()
	slack := &notify.Slack{Endpoint: notify.Endpoint{Name: "slack", URL: f.chat.URL}}
	rec, err := f.m.Start(context.Background(), notify.Request{Account: "bob", SourceIP: "192.0.2.7", Target: "root@db1:22"},
		Policy{Channels: []Channel{{Sender: slack}}, FourEyes: fourEyes, TTL: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	var msg struct {
		Blocks []struct {
			Type     string `json:"type"`
			Elements []struct {
				ActionID string `json:"action_id"`
				Value    string `json:"value"`
			} `json:"elements"`
		} `json:"blocks"`
	}
	if err := json.Unmarshal(f.chat.last(t), &msg); err != nil {
		t.Fatal(err)
	}
	last := msg.Blocks[len(msg.Blocks)-1]
	if last.Type != "actions" || last.Elements[0].Value != rec.ID {
		t.Fatalf("Slack message has no buttons for %s: %s", rec.ID, f.chat.last(t))
	}
	return last.Elements[0].Value
}

// click posts a callback with the given timestamp and signature (nil sign:
// the correct one).
func (f *slackFixture) click(t *testing.T, body string, ts time.Time, sig func(ts, body string) string) int {
	t.Helper()
	tsText := strconv.FormatInt(ts.Unix(), 10)
	req, _ := http.NewRequest(http.MethodPost, f.handler.URL+"/slack/interactive", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", tsText)
	if sig == nil {
		sig = func(ts, body string) string { return slackSign(signingSecret, ts, body) }
	}
	req.Header.Set("X-Slack-Signature", sig(tsText, body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func (f *slackFixture) state(t *testing.T, id string) Record {
	t.Helper()
	rec, err := f.m.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func TestSlackCallbackApproves(t *testing.T) {
	f := newSlackFixture(t)
	id := f.start(t, true)
	done := make(chan Record)
	go func() {
		rec, err := f.m.Wait(context.Background(), id, nil)
		if err != nil {
			t.Errorf("Wait = %v", err)
		}
		done <- rec
	}()
	body := blockActions("T0TEAM", "U0ALICE", notify.SlackActionApprove, id)
	if code := f.click(t, body, f.clock.Now(), nil); code != 200 {
		t.Fatalf("signed callback: HTTP %d", code)
	}
	rec := <-done
	if rec.State != Approved || rec.DecidedBy != (Approver{Account: "alice", Via: "slack", ChatUser: "T0TEAM/U0ALICE"}) {
		t.Errorf("record %+v", rec)
	}
	decided, _ := f.obs.snapshot()
	if len(decided) != 1 || decided[0].DecidedBy.Account != "alice" || decided[0].Account != "bob" {
		t.Errorf("observer %+v", decided)
	}
	// The same callback again (a replay within the window) is refused
	// before it reaches the request.
	if code := f.click(t, body, f.clock.Now(), nil); code != http.StatusUnauthorized {
		t.Errorf("replayed callback: HTTP %d, want 401", code)
	}
	// A fresh, correctly signed deny on a decided request is refused.
	deny := blockActions("T0TEAM", "U0CAROL", notify.SlackActionDeny, id)
	if code := f.click(t, deny, f.clock.Now().Add(time.Second), nil); code != http.StatusConflict {
		t.Errorf("deny after approval: HTTP %d, want 409", code)
	}
	if f.state(t, id).State != Approved {
		t.Error("decision changed after the fact")
	}
}

func TestSlackCallbackRefused(t *testing.T) {
	wrongSecret := func(ts, body string) string { return slackSign("not-the-secret", ts, body) }
	cases := []struct {
		name     string
		user     string
		team     string
		ts       time.Duration // offset from now
		sig      func(ts, body string) string
		tamper   bool
		want     int
		wantErr  error // reported to the observer, if it gets that far
		fourEyes bool
	}{
		{name: "forged signature", user: "U0ALICE", sig: wrongSecret, want: 401},
		{name: "no signature", user: "U0ALICE", sig: func(string, string) string { return "" }, want: 401},
		{name: "v1 scheme", user: "U0ALICE", sig: func(ts, b string) string { return "v1" + slackSign(signingSecret, ts, b)[2:] }, want: 401},
		{name: "stale timestamp", user: "U0ALICE", ts: -301 * time.Second, want: 401},
		{name: "future timestamp", user: "U0ALICE", ts: 301 * time.Second, want: 401},
		{name: "body changed after signing", user: "U0ALICE", tamper: true, want: 401},
		{name: "unknown Slack user", user: "U0MALLORY", want: 403, wantErr: ErrUnknownUser},
		{name: "other workspace", user: "U0ALICE", team: "T0OTHER", want: 403},
		{name: "requester approves own (four eyes)", user: "U0BOB", fourEyes: true, want: 403, wantErr: ErrFourEyes},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newSlackFixture(t)
			id := f.start(t, c.fourEyes)
			team := c.team
			if team == "" {
				team = "T0TEAM"
			}
			body := blockActions(team, c.user, notify.SlackActionApprove, id)
			sig := c.sig
			if c.tamper {
				signed := blockActions(team, c.user, notify.SlackActionDeny, id)
				sig = func(ts, _ string) string { return slackSign(signingSecret, ts, signed) }
			}
			if code := f.click(t, body, f.clock.Now().Add(c.ts), sig); code != c.want {
				t.Errorf("HTTP %d, want %d", code, c.want)
			}
			if rec := f.state(t, id); rec.State != Pending {
				t.Errorf("request %s after a refused callback", rec.State)
			}
			_, refused := f.obs.snapshot()
			if c.wantErr != nil && (len(refused) != 1 || !errors.Is(refused[0], c.wantErr)) {
				t.Errorf("observer refusals %v, want %v", refused, c.wantErr)
			}
			if c.wantErr == ErrFourEyes {
				// Someone else may still approve.
				ok := blockActions("T0TEAM", "U0ALICE", notify.SlackActionApprove, id)
				if code := f.click(t, ok, f.clock.Now(), nil); code != 200 || f.state(t, id).State != Approved {
					t.Errorf("second approver: HTTP %d, state %s", code, f.state(t, id).State)
				}
			}
		})
	}
}

func TestSlackCallbackExpiredRequest(t *testing.T) {
	f := newSlackFixture(t)
	id := f.start(t, false)
	f.clock.Add(3 * time.Minute) // TTL is 2 minutes
	body := blockActions("T0TEAM", "U0ALICE", notify.SlackActionApprove, id)
	if code := f.click(t, body, f.clock.Now(), nil); code != http.StatusGone {
		t.Errorf("HTTP %d, want 410", code)
	}
	if code := f.click(t, blockActions("T0TEAM", "U0ALICE", notify.SlackActionApprove, "0000"), f.clock.Now().Add(time.Second), nil); code != http.StatusNotFound {
		t.Errorf("unknown request: HTTP %d, want 404", code)
	}
	resp, err := http.Get(f.handler.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: HTTP %d, want 405", resp.StatusCode)
	}
}

// TestHandlersUnconfiguredRefuse: a handler missing its parts refuses
// rather than deciding without checks.
func TestHandlersUnconfiguredRefuse(t *testing.T) {
	for name, h := range map[string]http.Handler{
		"slack without users":  &SlackHandler{SigningSecret: []byte(signingSecret), Manager: NewManager(Config{Logger: quiet()})},
		"slack without secret": &SlackHandler{Manager: NewManager(Config{Logger: quiet()}), Users: slackDirectory{}},
		"links without signer": &LinkHandler{Manager: NewManager(Config{Logger: quiet()})},
	} {
		body := blockActions("T0TEAM", "U0ALICE", notify.SlackActionApprove, "x")
		req := httptest.NewRequest(http.MethodPost, "/approval/x.y", strings.NewReader(body))
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		req.Header.Set("X-Slack-Request-Timestamp", ts)
		req.Header.Set("X-Slack-Signature", slackSign(signingSecret, ts, body))
		rr := httptest.NewRecorder()
		h.ServeHTTP(rr, req)
		if rr.Code < 400 {
			t.Errorf("%s: HTTP %d", name, rr.Code)
		}
	}
}
