package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"time"
)

// Discord posts to a Discord webhook (https://discord.com/api/webhooks/ID/TOKEN).
// It adds wait=true so that Discord confirms the message (200 with the
// message JSON) instead of queueing it (204). allowed_mentions is empty, so
// nothing in a message can ping @everyone, a role or a user.
type Discord struct {
	Endpoint
	Username string // shown as the author; default "gatehouse"
}

func (d *Discord) Name() string { return d.Endpoint.Name }

func (d *Discord) Send(ctx context.Context, m *Message) error {
	body, err := json.Marshal(discordPayload(m, d.Username))
	if err != nil {
		return &DeliveryError{Channel: d.Endpoint.Name, Reason: "encoding", Err: err}
	}
	target, err := url.Parse(d.URL)
	if err != nil {
		return &DeliveryError{Channel: d.Endpoint.Name, Reason: "bad webhook URL in config", Err: errors.New("invalid URL")}
	}
	q := target.Query()
	q.Set("wait", "true")
	target.RawQuery = q.Encode()
	return d.post(ctx, outbound{url: target.String(), header: jsonHeader(), body: body, accept: acceptDiscord, secrets: []string{m.Code}})
}

// acceptDiscord: 204 (no wait) or 200 with the created message. An answer
// carrying Discord's error shape {"code":…,"message":…} is a failure even
// with a 2xx.
func acceptDiscord(status int, body []byte) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	var r struct {
		ID      string `json:"id"`
		Code    *int   `json:"code"`
		Message string `json:"message"`
	}
	if !jsonObject(body, &r) {
		return errors.New("answer is not JSON: " + excerpt(body))
	}
	if r.ID == "" && (r.Code != nil || r.Message != "") {
		return errors.New("answer reports an error: " + excerpt(body))
	}
	return nil
}

type discordField struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Inline bool   `json:"inline"`
}

type discordEmbed struct {
	Title       string         `json:"title"`
	Description string         `json:"description,omitempty"`
	Color       int            `json:"color"`
	Fields      []discordField `json:"fields,omitempty"`
	Timestamp   string         `json:"timestamp,omitempty"`
}

type discordMentions struct {
	Parse []string `json:"parse"` // empty, not null: Discord then parses no mention
}

type discordMessage struct {
	Content         string          `json:"content"`
	Username        string          `json:"username,omitempty"`
	Embeds          []discordEmbed  `json:"embeds"`
	AllowedMentions discordMentions `json:"allowed_mentions"`
}

func discordPayload(m *Message, username string) discordMessage {
	if username == "" {
		username = "gatehouse"
	}
	e := discordEmbed{Title: clean(m.Title(), 256), Color: 0x0076D7}
	if m.Kind == KindAlert {
		e.Color = 0xD70000
	}
	if !m.When.IsZero() {
		e.Timestamp = m.When.UTC().Format(time.RFC3339)
	}
	for _, f := range m.Fields() {
		e.Fields = append(e.Fields, discordField{Name: f.Name, Value: escapeMarkdown(f.Value), Inline: f.Name != "Command" && f.Name != "Detail"})
	}
	content := escapeMarkdown(m.Title())
	switch m.Kind {
	case KindCode:
		content = "Code for session **" + escapeMarkdown(clean(m.Label, 32)) + "**: **" + escapeMarkdown(clean(m.Code, 16)) + "**"
	case KindApproval:
		if m.ApproveURL != "" {
			e.Description = "[Approve](<" + m.ApproveURL + ">) · [Deny](<" + m.DenyURL + ">)"
		}
	}
	return discordMessage{
		Content:         content,
		Username:        username,
		Embeds:          []discordEmbed{e},
		AllowedMentions: discordMentions{Parse: []string{}},
	}
}
