package notify

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
)

// Mattermost posts to a Mattermost incoming webhook (https://mm.example/hooks/KEY).
// Mattermost answers 200 "ok"; its errors are JSON ({"id":…,"message":…,
// "status_code":…}), so anything but "ok" is a failure. User-supplied
// values go in code spans: Mattermost has no allowed_mentions, and inside a
// code span neither Markdown nor @channel is interpreted.
type Mattermost struct {
	Endpoint
	Username string // default "gatehouse"
	Channel  string // optional channel override, e.g. "town-square"
}

func (mm *Mattermost) Name() string { return mm.Endpoint.Name }

func (mm *Mattermost) Send(ctx context.Context, m *Message) error {
	body, err := json.Marshal(mattermostPayload(m, mm.Username, mm.Channel))
	if err != nil {
		return &DeliveryError{Channel: mm.Endpoint.Name, Reason: "encoding", Err: err}
	}
	accept := func(_ int, body []byte) error {
		if strings.TrimSpace(string(body)) == "ok" {
			return nil
		}
		return errors.New("answer is not \"ok\": " + excerpt(body))
	}
	return mm.post(ctx, outbound{url: mm.URL, header: jsonHeader(), body: body, accept: accept, secrets: []string{m.Code}})
}

type mattermostMessage struct {
	Text     string `json:"text"`
	Username string `json:"username,omitempty"`
	Channel  string `json:"channel,omitempty"`
}

func mattermostPayload(m *Message, username, channel string) mattermostMessage {
	if username == "" {
		username = "gatehouse"
	}
	var b strings.Builder
	b.WriteString("**" + titleWord(m) + "**")
	for _, f := range m.Fields() {
		b.WriteString("\n" + f.Name + ": " + codeSpan(f.Value))
	}
	switch m.Kind {
	case KindCode:
		b.WriteString("\nCode for session " + codeSpan(clean(m.Label, 32)) + ": **" + codeSpan(clean(m.Code, 16)) + "**")
	case KindApproval:
		if m.ApproveURL != "" {
			b.WriteString("\n[Approve](" + m.ApproveURL + ") · [Deny](" + m.DenyURL + ")")
		}
	}
	return mattermostMessage{Text: b.String(), Username: username, Channel: channel}
}

// titleWord is the title without user-supplied values, for formats where the
// title is Markdown and the values follow as fields.
func titleWord(m *Message) string {
	switch m.Kind {
	case KindCode:
		return "SSH login code"
	case KindApproval:
		return "Approval needed"
	case KindAlert:
		return alertTitle(m)
	}
	return "gatehouse"
}
