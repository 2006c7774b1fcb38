package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"text/template"
	"time"
)

// Headers of a signed generic webhook. The signature is
// "sha256=" + hex(HMAC-SHA256(secret, timestamp + "." + body)), timestamp in
// Unix seconds; a receiver should refuse timestamps more than a few minutes
// old and compare in constant time.
const (
	GenericSignatureHeader = "X-Gatehouse-Signature"
	GenericTimestampHeader = "X-Gatehouse-Timestamp"
)

// ErrTemplate: the generic webhook template is unusable or produced
// something that is not JSON. Nothing was sent.
var ErrTemplate = errors.New("notify: webhook template")

// GenericVariables are the names a generic template may use, as {{.name}}.
var GenericVariables = []string{
	"kind", "account", "source_ip", "target", "command", "bastion", "public_label",
	"code", "when", "expires_at", "approve_url", "deny_url", "request_id",
	"alert", "detail", "title", "text",
}

// GenericConfig configures a generic JSON webhook.
type GenericConfig struct {
	Endpoint
	// Template is a text/template that renders the JSON body. Every variable
	// is already escaped as the inside of a JSON string, so it must be placed
	// between double quotes: {"user":"{{.account}}","code":"{{.code}}"}.
	// A template that puts a variable outside a string, or renders invalid
	// JSON for any value, is refused by NewGeneric.
	Template string
	// Secret, when set, signs each request (GenericSignatureHeader,
	// GenericTimestampHeader).
	Secret []byte
}

// Generic posts a JSON body rendered from a template to any URL and accepts
// any 2xx answer.
type Generic struct {
	Endpoint
	tmpl   *template.Template
	secret []byte
}

// NewGeneric compiles and checks the template: it must render valid JSON both
// with every variable empty and with every variable holding characters that
// need escaping, which proves each variable sits inside a JSON string.
func NewGeneric(cfg GenericConfig) (*Generic, error) {
	t, err := template.New("webhook").Option("missingkey=error").Parse(cfg.Template)
	if err != nil {
		return nil, fmt.Errorf("%w for channel %q: %w; fix the template syntax", ErrTemplate, cfg.Name, err)
	}
	g := &Generic{Endpoint: cfg.Endpoint, tmpl: t, secret: bytes.Clone(cfg.Secret)}
	empty := map[string]string{}
	probe := map[string]string{}
	for _, v := range GenericVariables {
		empty[v] = ""
		probe[v] = jsonStringBody(`x"` + v + `\`)
	}
	for _, data := range []map[string]string{empty, probe} {
		if _, err := g.render(data); err != nil {
			return nil, fmt.Errorf("%w for channel %q: %w; put every {{.variable}} inside a JSON string (\"…\")", ErrTemplate, cfg.Name, err)
		}
	}
	return g, nil
}

func (g *Generic) Name() string { return g.Endpoint.Name }

// Send renders the template for m, refuses to send if the result is not
// valid JSON, and posts it (signed when a secret is configured).
func (g *Generic) Send(ctx context.Context, m *Message) error {
	body, err := g.render(genericData(m))
	if err != nil {
		return &DeliveryError{Channel: g.Endpoint.Name, Reason: "not sent", Err: err}
	}
	o := outbound{url: g.URL, header: jsonHeader(), body: body, secrets: []string{m.Code}}
	if len(g.secret) > 0 {
		o.sign = func(h http.Header, body []byte, now time.Time) {
			ts := strconv.FormatInt(now.Unix(), 10)
			h.Set(GenericTimestampHeader, ts)
			h.Set(GenericSignatureHeader, "sha256="+signGeneric(g.secret, ts, body))
		}
	}
	return g.post(ctx, o)
}

// render executes the template and checks that the result is JSON. Errors
// never quote the rendered body: it may hold the code.
func (g *Generic) render(data map[string]string) ([]byte, error) {
	var b bytes.Buffer
	if err := g.tmpl.Execute(&b, data); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTemplate, err)
	}
	if !json.Valid(b.Bytes()) {
		return nil, fmt.Errorf("%w: rendered body is not valid JSON", ErrTemplate)
	}
	return b.Bytes(), nil
}

func signGeneric(secret []byte, ts string, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(ts))
	mac.Write([]byte("."))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// genericData maps a message to template variables, each escaped as the
// inside of a JSON string.
func genericData(m *Message) map[string]string {
	ts := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	}
	raw := map[string]string{
		"kind":         m.Kind.String(),
		"account":      clean(m.Account, 256),
		"source_ip":    clean(m.SourceIP, 256),
		"target":       clean(m.Target, 1024),
		"command":      clean(m.Command, 2048),
		"bastion":      clean(m.Bastion, 256),
		"public_label": clean(m.Label, 64),
		"code":         clean(m.Code, 64),
		"when":         ts(m.When),
		"expires_at":   ts(m.ExpiresAt),
		"approve_url":  m.ApproveURL,
		"deny_url":     m.DenyURL,
		"request_id":   m.RequestID,
		"alert":        string(m.Alert),
		"detail":       clean(m.Detail, 2048),
		"title":        m.Title(),
		"text":         m.PlainText(),
	}
	out := make(map[string]string, len(raw))
	for k, v := range raw {
		out[k] = jsonStringBody(v)
	}
	return out
}

// jsonStringBody is s encoded as a JSON string without its quotes.
func jsonStringBody(s string) string {
	b, _ := json.Marshal(s) // a string always encodes
	return strings.TrimSuffix(strings.TrimPrefix(string(b), `"`), `"`)
}

// jsonObject decodes body into v when body is a JSON object.
func jsonObject(body []byte, v any) bool {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return false
	}
	return json.Unmarshal(body, v) == nil
}
