package notify

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// hostile is a request whose user-supplied values try to ping everyone,
// inject links, fake a code line and reorder text.
func hostile() *Message {
	m := codeMessage()
	m.Account = "<!channel> @everyone"
	m.Target = "[click](https://evil.example) `x` **b**"
	m.Command = "ls\nCode for session ABCDEF: 000000\u202Eevil"
	return m
}

func TestEscapingPerChannel(t *testing.T) {
	m := hostile()
	t.Run("slack", func(t *testing.T) {
		b, _ := json.Marshal(slackPayload(m))
		var p slackMessage
		json.Unmarshal(b, &p)
		all := p.Text
		for _, f := range p.Blocks[1].Fields {
			all += f.Text
		}
		if strings.Contains(all, "<!channel>") || !strings.Contains(all, "&lt;!channel&gt;") {
			t.Errorf("Slack text not escaped: %q", all)
		}
	})
	t.Run("discord", func(t *testing.T) {
		p := discordPayload(m, "")
		if p.AllowedMentions.Parse == nil || len(p.AllowedMentions.Parse) != 0 {
			t.Errorf("allowed_mentions %v", p.AllowedMentions)
		}
		for _, f := range p.Embeds[0].Fields {
			if f.Name == "Target" && strings.Contains(f.Value, "[click]") {
				t.Errorf("link not escaped: %q", f.Value)
			}
		}
	})
	t.Run("mattermost", func(t *testing.T) {
		text := mattermostPayload(m, "", "").Text
		if !strings.Contains(text, "Account: `<!channel> @everyone`") {
			t.Errorf("account not in a code span: %q", text)
		}
		if !strings.Contains(text, "Target: ``[click](https://evil.example) `x` **b**``") {
			t.Errorf("target not in a double-backtick code span: %q", text)
		}
	})
	t.Run("fake code line", func(t *testing.T) {
		for _, text := range []string{m.PlainText(), ntfyBody(m), mattermostPayload(m, "", "").Text} {
			n := 0
			for _, line := range strings.Split(text, "\n") {
				if strings.HasPrefix(line, "Code for session") {
					n++
				}
			}
			if n != 1 || strings.Contains(text, "\u202E") {
				t.Errorf("user value forged a line or kept a bidi override:\n%s", text)
			}
		}
	})
}

func TestCodeSpan(t *testing.T) {
	cases := map[string]string{
		"":      "",
		"abc":   "`abc`",
		"a`b":   "``a`b``",
		"a``b":  "```a``b```",
		"`x":    "`` `x ``",
		"@here": "`@here`",
	}
	for in, want := range cases {
		if got := codeSpan(in); got != want {
			t.Errorf("codeSpan(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCleanCapsAndReplaces(t *testing.T) {
	if got := clean("a\x00b\r\nc\u2066d\xff", 100); got != "a\uFFFDb\uFFFD\uFFFDc\uFFFDd\uFFFD" {
		t.Errorf("clean = %q", got)
	}
	if got := clean(strings.Repeat("é", 10), 4); got != "éééé…" {
		t.Errorf("clean cap = %q", got)
	}
}

func TestGenericTemplateRefused(t *testing.T) {
	cases := map[string]string{
		"variable outside a string": `{"user": {{.account}}}`,
		"not JSON":                  `user={{.account}}`,
		"unclosed":                  `{"user":"{{.account}}"`,
		"unknown variable":          `{"user":"{{.acount}}"}`,
		"syntax":                    `{"user":"{{.account}"}`,
		"trailing comma when empty": `{"a":"{{.account}}",{{if .approve_url}}"b":"{{.approve_url}}"{{end}}}`,
	}
	for name, tmpl := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := NewGeneric(GenericConfig{Endpoint: Endpoint{Name: "g", URL: "http://127.0.0.1:1/"}, Template: tmpl})
			if !errors.Is(err, ErrTemplate) {
				t.Fatalf("NewGeneric = %v, want ErrTemplate", err)
			}
		})
	}
}

// TestGenericInvalidAtSendNotSent: a template that passes the checks but
// renders invalid JSON for some real value is refused before any request.
func TestGenericInvalidAtSendNotSent(t *testing.T) {
	svc := newService(t, answer(200, ""))
	g, err := NewGeneric(GenericConfig{
		Endpoint: endpoint(t, "g", svc.URL),
		Template: `{{if eq .account "bob"}}{"user":{{else}}{"user":"{{.account}}"}{{end}}`,
	})
	if err != nil {
		t.Fatalf("NewGeneric: %v", err)
	}
	err = g.Send(context.Background(), codeMessage()) // account bob
	if !errors.Is(err, ErrTemplate) {
		t.Fatalf("Send = %v, want ErrTemplate", err)
	}
	if strings.Contains(err.Error(), "493027") {
		t.Errorf("error %q reveals the code", err)
	}
	if n := len(svc.requests()); n != 0 {
		t.Errorf("%d requests sent, want 0", n)
	}
	m := codeMessage()
	m.Account = "alice"
	if err := g.Send(context.Background(), m); err != nil {
		t.Fatalf("Send(alice) = %v", err)
	}
}

// TestGenericEscapesValues: quotes, backslashes, newlines and HTML in values
// come out as the same strings after JSON decoding, with no extra keys.
func TestGenericEscapesValues(t *testing.T) {
	svc := newService(t, answer(204, ""))
	g, err := NewGeneric(GenericConfig{Endpoint: endpoint(t, "g", svc.URL), Template: `{"user":"{{.account}}","target":"{{.target}}"}`})
	if err != nil {
		t.Fatal(err)
	}
	m := codeMessage()
	m.Account = `bo"b","admin":true,"x":"`
	m.Target = `C:\path <script>`
	if err := g.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	b := decode(t, svc.requests()[0].Body)
	if len(b) != 2 || b["user"] != m.Account || b["target"] != m.Target {
		t.Errorf("decoded %v", b)
	}
	if svc.requests()[0].Header.Get("X-Gatehouse-Signature") != "" {
		t.Error("signature header without a secret")
	}
}
