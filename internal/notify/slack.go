package notify

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
)

// Action ids of the Slack Approve/Deny buttons; the button value is the
// approval request id. The approval package's callback handler reads them.
const (
	SlackActionApprove = "gatehouse_approve"
	SlackActionDeny    = "gatehouse_deny"
)

// Slack posts to a Slack incoming webhook (https://hooks.slack.com/services/…)
// with a text fallback and Block Kit blocks. Approval messages carry
// Approve/Deny buttons whose clicks Slack sends to the app's interactivity
// URL (approval.SlackHandler); the webhook must belong to that app.
type Slack struct {
	Endpoint
}

func (s *Slack) Name() string { return s.Endpoint.Name }

// Send posts m; Slack answers 200 "ok", anything else is a failure.
func (s *Slack) Send(ctx context.Context, m *Message) error {
	body, err := json.Marshal(slackPayload(m))
	if err != nil {
		return &DeliveryError{Channel: s.Endpoint.Name, Reason: "encoding", Err: err}
	}
	return s.post(ctx, outbound{url: s.URL, header: jsonHeader(), body: body, accept: acceptSlackOK, secrets: []string{m.Code}})
}

// acceptSlackOK: incoming webhooks answer "ok"; errors come as a bare token
// ("invalid_payload", "no_service"…), sometimes with a 200.
func acceptSlackOK(_ int, body []byte) error {
	if strings.TrimSpace(string(body)) == "ok" {
		return nil
	}
	return errors.New("answer is not \"ok\": " + excerpt(body))
}

type slackText struct {
	Type  string `json:"type"` // plain_text or mrkdwn
	Text  string `json:"text"`
	Emoji bool   `json:"emoji,omitempty"`
}

type slackElement struct {
	Type     string     `json:"type"`
	ActionID string     `json:"action_id,omitempty"`
	Text     *slackText `json:"text,omitempty"`
	Style    string     `json:"style,omitempty"`
	Value    string     `json:"value,omitempty"`
	URL      string     `json:"url,omitempty"`
}

type slackBlock struct {
	Type     string         `json:"type"`
	BlockID  string         `json:"block_id,omitempty"`
	Text     *slackText     `json:"text,omitempty"`
	Fields   []slackText    `json:"fields,omitempty"`
	Elements []slackElement `json:"elements,omitempty"`
}

type slackMessage struct {
	Text   string       `json:"text"`
	Blocks []slackBlock `json:"blocks"`
}

func slackPayload(m *Message) slackMessage {
	title := m.Title()
	fallback := escapeSlack(title)
	blocks := []slackBlock{{Type: "header", Text: &slackText{Type: "plain_text", Text: clean(title, 150)}}}
	var fields []slackText
	for _, f := range m.Fields() {
		fields = append(fields, slackText{Type: "mrkdwn", Text: "*" + f.Name + "*\n" + escapeSlack(f.Value)})
	}
	if len(fields) > 0 {
		blocks = append(blocks, slackBlock{Type: "section", Fields: fields[:min(len(fields), 10)]})
	}
	switch m.Kind {
	case KindCode:
		line := "Code for session *" + escapeSlack(clean(m.Label, 32)) + "*: `" + escapeSlack(clean(m.Code, 16)) + "`"
		blocks = append(blocks, slackBlock{Type: "section", Text: &slackText{Type: "mrkdwn", Text: line}})
		fallback += " (session " + escapeSlack(clean(m.Label, 32)) + ")"
	case KindApproval:
		switch {
		case m.RequestID != "":
			blocks = append(blocks, slackBlock{Type: "actions", BlockID: "gatehouse_approval", Elements: []slackElement{
				{Type: "button", ActionID: SlackActionApprove, Style: "primary", Value: m.RequestID,
					Text: &slackText{Type: "plain_text", Text: "Approve"}},
				{Type: "button", ActionID: SlackActionDeny, Style: "danger", Value: m.RequestID,
					Text: &slackText{Type: "plain_text", Text: "Deny"}},
			}})
		case m.ApproveURL != "":
			blocks = append(blocks, slackBlock{Type: "actions", BlockID: "gatehouse_approval", Elements: []slackElement{
				{Type: "button", ActionID: "gatehouse_approve_link", Style: "primary", URL: m.ApproveURL,
					Text: &slackText{Type: "plain_text", Text: "Approve"}},
				{Type: "button", ActionID: "gatehouse_deny_link", Style: "danger", URL: m.DenyURL,
					Text: &slackText{Type: "plain_text", Text: "Deny"}},
			}})
		}
		fallback += " (session " + escapeSlack(clean(m.Label, 32)) + ")"
	}
	return slackMessage{Text: fallback, Blocks: blocks}
}
