package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2025, 3, 4, 10, 20, 30, 0, time.UTC)

func codeMessage() *Message {
	return &Message{
		Kind:    KindCode,
		Request: Request{Account: "bob", SourceIP: "192.0.2.7", Target: "root@db1.example:22"},
		Bastion: "bh1", Label: "ABCDEF", Code: "493027",
		When: t0, ExpiresAt: t0.Add(120 * time.Second),
	}
}

func approvalMessage() *Message {
	return &Message{
		Kind:    KindApproval,
		Request: Request{Account: "bob", SourceIP: "192.0.2.7", Command: "--osh accountDelete --account eve"},
		Bastion: "bh1", Label: "QWERTY", RequestID: "rq-0123",
		ApproveURL: "https://bh1.example/approval/TOKA", DenyURL: "https://bh1.example/approval/TOKD",
		When: t0, ExpiresAt: t0.Add(120 * time.Second),
	}
}

// channelCase describes one kind of channel: how to build its sender, what
// the real service answers on success, and what the real service checks.
type channelCase struct {
	name   string
	sender func(t *testing.T, url string) Sender
	ok     func(http.ResponseWriter, *http.Request, int)
	check  func(t *testing.T, r captured, m *Message)
}

func endpoint(t *testing.T, name, url string) Endpoint {
	return Endpoint{Name: name, URL: url, Timeout: 3 * time.Second, Client: testClient(t)}
}

func wantJSON(t *testing.T, r captured) map[string]any {
	t.Helper()
	if r.Method != http.MethodPost {
		t.Errorf("method %s, want POST", r.Method)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	return decode(t, r.Body)
}

const genericTemplate = `{"event":"ssh.{{.kind}}","user":"{{.account}}","src_ip":"{{.source_ip}}","target":"{{.target}}",` +
	`"command":"{{.command}}","bastion":"{{.bastion}}","public_code":"{{.public_label}}","code":"{{.code}}",` +
	`"expires_at":"{{.expires_at}}","approve":"{{.approve_url}}","deny":"{{.deny_url}}"}`

var channelCases = []channelCase{
	{
		name: "slack",
		sender: func(t *testing.T, url string) Sender {
			return &Slack{endpoint(t, "slack", url+"/services/T0/B0/SECRET")}
		},
		ok: answer(200, "ok"),
		check: func(t *testing.T, r captured, m *Message) {
			if r.Path != "/services/T0/B0/SECRET" {
				t.Errorf("path %q", r.Path)
			}
			b := wantJSON(t, r)
			text := jstr(t, b, "text")
			if !strings.Contains(text, "bob") || (m.Code != "" && strings.Contains(text, m.Code)) {
				t.Errorf("fallback text %q: want the account and no code (it shows on lock screens)", text)
			}
			if jstr(t, b, "blocks", 0, "type") != "header" || jstr(t, b, "blocks", 1, "type") != "section" {
				t.Errorf("blocks: %v", b["blocks"])
			}
			if f := jstr(t, b, "blocks", 1, "fields", 0, "text"); f != "*Account*\nbob" {
				t.Errorf("first field %q", f)
			}
			switch m.Kind {
			case KindCode:
				if s := jstr(t, b, "blocks", 2, "text", "text"); !strings.Contains(s, "`"+m.Code+"`") || !strings.Contains(s, m.Label) {
					t.Errorf("code block %q", s)
				}
			case KindApproval:
				blocks := b["blocks"].([]any)
				last := blocks[len(blocks)-1]
				if jstr(t, last, "type") != "actions" {
					t.Fatalf("last block %v, want actions", last)
				}
				for i, want := range []string{SlackActionApprove, SlackActionDeny} {
					if jstr(t, last, "elements", i, "type") != "button" || jstr(t, last, "elements", i, "action_id") != want ||
						jstr(t, last, "elements", i, "value") != m.RequestID || jstr(t, last, "elements", i, "text", "type") != "plain_text" {
						t.Errorf("button %d: %v", i, jget(t, last, "elements", i))
					}
				}
			}
		},
	},
	{
		name: "teams-workflow",
		sender: func(t *testing.T, url string) Sender {
			return &TeamsWorkflow{endpoint(t, "teams", url+"/workflows/x/invoke")}
		},
		ok: answer(202, ""),
		check: func(t *testing.T, r captured, m *Message) {
			b := wantJSON(t, r)
			if jstr(t, b, "type") != "message" {
				t.Errorf("type %v", b["type"])
			}
			att := jget(t, b, "attachments", 0)
			if jstr(t, att, "contentType") != "application/vnd.microsoft.card.adaptive" {
				t.Errorf("contentType %v", jget(t, att, "contentType"))
			}
			if v := jget(t, att, "contentUrl"); v != nil {
				t.Errorf("contentUrl %v, want null", v)
			}
			c := jget(t, att, "content")
			if jstr(t, c, "type") != "AdaptiveCard" || jstr(t, c, "version") != "1.4" ||
				jstr(t, c, "$schema") != "http://adaptivecards.io/schemas/adaptive-card.json" {
				t.Errorf("card header %v", c)
			}
			if jstr(t, c, "body", 0, "type") != "TextBlock" || jstr(t, c, "body", 1, "type") != "FactSet" ||
				jstr(t, c, "body", 1, "facts", 0, "title") != "Account" || jstr(t, c, "body", 1, "facts", 0, "value") != "bob" {
				t.Errorf("card body %v", jget(t, c, "body"))
			}
			switch m.Kind {
			case KindCode:
				if s := jstr(t, c, "body", 2, "text"); !strings.Contains(s, "**"+m.Code+"**") {
					t.Errorf("code text %q", s)
				}
			case KindApproval:
				if jstr(t, c, "actions", 0, "type") != "Action.OpenUrl" || jstr(t, c, "actions", 0, "url") != m.ApproveURL ||
					jstr(t, c, "actions", 1, "url") != m.DenyURL {
					t.Errorf("actions %v", jget(t, c, "actions"))
				}
			}
		},
	},
	{
		name: "teams-connector",
		sender: func(t *testing.T, url string) Sender {
			return &TeamsConnector{endpoint(t, "o365", url+"/webhookb2/abc")}
		},
		ok: answer(200, "1"),
		check: func(t *testing.T, r captured, m *Message) {
			b := wantJSON(t, r)
			if jstr(t, b, "@type") != "MessageCard" || jstr(t, b, "@context") != "http://schema.org/extensions" || jstr(t, b, "summary") == "" {
				t.Errorf("card %v", b)
			}
			if jstr(t, b, "sections", 0, "facts", 0, "name") != "Account" || jstr(t, b, "sections", 0, "facts", 0, "value") != "bob" {
				t.Errorf("facts %v", jget(t, b, "sections"))
			}
			if m.Kind == KindApproval {
				if jstr(t, b, "potentialAction", 0, "@type") != "OpenUri" || jstr(t, b, "potentialAction", 0, "targets", 0, "uri") != m.ApproveURL ||
					jstr(t, b, "potentialAction", 1, "targets", 0, "uri") != m.DenyURL {
					t.Errorf("potentialAction %v", jget(t, b, "potentialAction"))
				}
			}
		},
	},
	{
		name: "discord",
		sender: func(t *testing.T, url string) Sender {
			return &Discord{Endpoint: endpoint(t, "discord", url+"/api/webhooks/1/tok")}
		},
		ok: func(w http.ResponseWriter, r *http.Request, _ int) {
			if r.URL.Query().Get("wait") != "true" {
				w.WriteHeader(204)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"id":"1133","type":0,"content":"x","channel_id":"42"}`))
		},
		check: func(t *testing.T, r captured, m *Message) {
			if r.RawQuery != "wait=true" {
				t.Errorf("query %q, want wait=true", r.RawQuery)
			}
			b := wantJSON(t, r)
			if p, ok := jget(t, b, "allowed_mentions", "parse").([]any); !ok || len(p) != 0 {
				t.Errorf("allowed_mentions.parse %v, want []", jget(t, b, "allowed_mentions"))
			}
			if jstr(t, b, "username") != "gatehouse" || jstr(t, b, "embeds", 0, "fields", 0, "value") != "bob" {
				t.Errorf("payload %v", b)
			}
			if len(jstr(t, b, "content")) > 2000 {
				t.Error("content over Discord's 2000 limit")
			}
			switch m.Kind {
			case KindCode:
				if !strings.Contains(jstr(t, b, "content"), m.Code) {
					t.Errorf("content %q lacks the code", jstr(t, b, "content"))
				}
			case KindApproval:
				if d := jstr(t, b, "embeds", 0, "description"); !strings.Contains(d, m.ApproveURL) || !strings.Contains(d, m.DenyURL) {
					t.Errorf("description %q", d)
				}
			}
		},
	},
	{
		name: "mattermost",
		sender: func(t *testing.T, url string) Sender {
			return &Mattermost{Endpoint: endpoint(t, "mm", url+"/hooks/xyz")}
		},
		ok: answer(200, "ok"),
		check: func(t *testing.T, r captured, m *Message) {
			b := wantJSON(t, r)
			text := jstr(t, b, "text")
			if !strings.Contains(text, "Account: `bob`") || jstr(t, b, "username") != "gatehouse" {
				t.Errorf("text %q", text)
			}
			if m.Kind == KindCode && !strings.Contains(text, m.Code) {
				t.Errorf("text %q lacks the code", text)
			}
			if m.Kind == KindApproval && !strings.Contains(text, "[Approve]("+m.ApproveURL+")") {
				t.Errorf("text %q lacks the approve link", text)
			}
		},
	},
	{
		name: "ntfy",
		sender: func(t *testing.T, url string) Sender {
			return &Ntfy{Endpoint: endpoint(t, "ntfy", url+"/bastion-x9f3"), Token: "tk_1"}
		},
		ok: answer(200, `{"id":"hwQ2YpKdmg","time":1635528741,"event":"message","topic":"bastion-x9f3","message":"x"}`),
		check: func(t *testing.T, r captured, m *Message) {
			if r.Method != "POST" || r.Path != "/bastion-x9f3" || r.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
				t.Errorf("request %s %s %q", r.Method, r.Path, r.Header.Get("Content-Type"))
			}
			title, err := new(mime.WordDecoder).DecodeHeader(r.Header.Get("Title"))
			if err != nil || title != m.Title() {
				t.Errorf("Title %q (%v), want %q", title, err, m.Title())
			}
			if r.Header.Get("Priority") != "4" || r.Header.Get("Authorization") != "Bearer tk_1" {
				t.Errorf("headers %v", r.Header)
			}
			body := string(r.Body)
			if !strings.Contains(body, "Account: bob") || !strings.Contains(body, "From: 192.0.2.7") {
				t.Errorf("body %q", body)
			}
			switch m.Kind {
			case KindCode:
				if r.Header.Get("Tags") != "key" || !strings.Contains(body, "Code for session "+m.Label+": "+m.Code) {
					t.Errorf("code message: tags %q body %q", r.Header.Get("Tags"), body)
				}
			case KindApproval:
				want := "view, Approve, " + m.ApproveURL + ", clear=true; view, Deny, " + m.DenyURL + ", clear=true"
				if r.Header.Get("Actions") != want {
					t.Errorf("Actions %q, want %q", r.Header.Get("Actions"), want)
				}
			}
		},
	},
	{
		name: "ntfy-json",
		sender: func(t *testing.T, url string) Sender {
			return &Ntfy{Endpoint: endpoint(t, "ntfy", url+"/"), JSON: true, Topic: "bastion-x9f3"}
		},
		ok: answer(200, `{"id":"hwQ2YpKdmg","event":"message","topic":"bastion-x9f3"}`),
		check: func(t *testing.T, r captured, m *Message) {
			b := wantJSON(t, r)
			if r.Path != "/" || jstr(t, b, "topic") != "bastion-x9f3" || jstr(t, b, "title") != m.Title() || jget(t, b, "priority") != 4.0 {
				t.Errorf("publish %v", b)
			}
			if m.Kind == KindApproval && (jstr(t, b, "actions", 0, "action") != "view" || jstr(t, b, "actions", 0, "url") != m.ApproveURL) {
				t.Errorf("actions %v", b["actions"])
			}
		},
	},
	{
		name: "generic",
		sender: func(t *testing.T, url string) Sender {
			g, err := NewGeneric(GenericConfig{Endpoint: endpoint(t, "siem", url+"/in"), Template: genericTemplate, Secret: []byte("s3cret")})
			if err != nil {
				t.Fatal(err)
			}
			return g
		},
		ok: answer(200, `{"accepted":true}`),
		check: func(t *testing.T, r captured, m *Message) {
			b := wantJSON(t, r)
			ts := r.Header.Get("X-Gatehouse-Timestamp")
			sec, err := strconv.ParseInt(ts, 10, 64)
			if err != nil || time.Since(time.Unix(sec, 0)).Abs() > 10*time.Second {
				t.Errorf("timestamp %q", ts)
			}
			mac := hmac.New(sha256.New, []byte("s3cret"))
			mac.Write([]byte(ts + "." + string(r.Body)))
			if got, want := r.Header.Get("X-Gatehouse-Signature"), "sha256="+hex.EncodeToString(mac.Sum(nil)); got != want {
				t.Errorf("signature %q, want %q", got, want)
			}
			if jstr(t, b, "user") != m.Account || jstr(t, b, "src_ip") != m.SourceIP || jstr(t, b, "code") != m.Code ||
				jstr(t, b, "public_code") != m.Label || jstr(t, b, "expires_at") != m.ExpiresAt.Format(time.RFC3339) ||
				jstr(t, b, "approve") != m.ApproveURL || jstr(t, b, "event") != "ssh."+m.Kind.String() {
				t.Errorf("body %v", b)
			}
		},
	},
}

func TestSendersPayloads(t *testing.T) {
	for _, c := range channelCases {
		for _, m := range []*Message{codeMessage(), approvalMessage()} {
			t.Run(c.name+"/"+m.Kind.String(), func(t *testing.T) {
				svc := newService(t, c.ok)
				if err := c.sender(t, svc.URL).Send(context.Background(), m); err != nil {
					t.Fatalf("Send: %v", err)
				}
				reqs := svc.requests()
				if len(reqs) != 1 {
					t.Fatalf("%d requests, want 1", len(reqs))
				}
				c.check(t, reqs[0], m)
			})
		}
	}
}

// TestSendersErrorBodies: each service's way of saying "no", including with a
// 200, is a failure, and the error names the channel but not the URL's
// token or the code (which the fake service echoes back).
func TestSendersErrorBodies(t *testing.T) {
	errs := map[string][]struct {
		status int
		body   string
	}{
		"slack":           {{200, "invalid_payload"}, {404, "no_service"}, {400, "no_text"}, {200, ""}},
		"teams-workflow":  {{200, `{"error":{"code":"TriggerInputSchemaMismatch","message":"bad 493027"}}`}, {400, `{"error":{}}`}},
		"teams-connector": {{200, "Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 429 493027"}, {200, ""}},
		"discord":         {{200, `{"code":50006,"message":"Cannot send an empty message 493027"}`}, {404, `{"message":"Unknown Webhook","code":10015}`}, {200, "<html>"}},
		"mattermost":      {{200, `{"id":"web.incoming_webhook.text.app_error","message":"No text specified","status_code":400}`}, {500, "x"}},
		"ntfy":            {{200, `{"code":40001,"http":400,"error":"invalid request: 493027"}`}, {403, `{"code":40301,"http":403,"error":"forbidden"}`}},
		"ntfy-json":       {{200, `{"code":40035,"http":400,"error":"invalid request: message is not JSON"}`}},
		"generic":         {{500, "493027"}, {302, ""}},
	}
	for _, c := range channelCases {
		for _, e := range errs[c.name] {
			t.Run(c.name+"/"+strconv.Itoa(e.status)+"/"+e.body, func(t *testing.T) {
				svc := newService(t, answer(e.status, e.body))
				s := c.sender(t, svc.URL)
				err := s.Send(context.Background(), codeMessage())
				var de *DeliveryError
				if !errors.As(err, &de) || !errors.Is(err, ErrRejected) {
					t.Fatalf("Send = %v, want a DeliveryError wrapping ErrRejected", err)
				}
				if de.Channel != s.Name() || de.Status != e.status {
					t.Errorf("DeliveryError %+v", de)
				}
				msg := err.Error()
				for _, secret := range []string{"493027", "SECRET", "127.0.0.1", "tok"} {
					if strings.Contains(msg, secret) {
						t.Errorf("error %q reveals %q", msg, secret)
					}
				}
			})
		}
	}
}
