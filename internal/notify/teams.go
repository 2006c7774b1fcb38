package notify

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
)

// TeamsWorkflow posts an Adaptive Card to a Microsoft Teams Workflows
// (Power Automate "When a Teams webhook request is received") URL. The flow
// answers 202 with an empty body and delivers asynchronously, so any 2xx
// without an error object counts as delivered. Approval cards use
// Action.OpenUrl with the signed links (Action.Submit would need a bot).
type TeamsWorkflow struct {
	Endpoint
}

func (t *TeamsWorkflow) Name() string { return t.Endpoint.Name }

func (t *TeamsWorkflow) Send(ctx context.Context, m *Message) error {
	body, err := json.Marshal(teamsWorkflowPayload(m))
	if err != nil {
		return &DeliveryError{Channel: t.Endpoint.Name, Reason: "encoding", Err: err}
	}
	return t.post(ctx, outbound{url: t.URL, header: jsonHeader(), body: body, accept: acceptNoErrorObject, secrets: []string{m.Code}})
}

// TeamsConnector posts a legacy Office 365 connector MessageCard
// (…webhook.office.com/webhookb2/…). The connector answers 200 "1"; it
// reports some downstream errors as 200 with an error text, so anything but
// "1" is a failure.
type TeamsConnector struct {
	Endpoint
}

func (t *TeamsConnector) Name() string { return t.Endpoint.Name }

func (t *TeamsConnector) Send(ctx context.Context, m *Message) error {
	body, err := json.Marshal(messageCardPayload(m))
	if err != nil {
		return &DeliveryError{Channel: t.Endpoint.Name, Reason: "encoding", Err: err}
	}
	accept := func(_ int, body []byte) error {
		if strings.TrimSpace(string(body)) == "1" {
			return nil
		}
		return errors.New("answer is not \"1\": " + excerpt(body))
	}
	return t.post(ctx, outbound{url: t.URL, header: jsonHeader(), body: body, accept: accept, secrets: []string{m.Code}})
}

// acceptNoErrorObject accepts an empty answer or JSON without an "error"
// member (Logic Apps / Power Automate report {"error":{"code","message"}}).
func acceptNoErrorObject(_ int, body []byte) error {
	var e struct {
		Error json.RawMessage `json:"error"`
	}
	if jsonObject(body, &e) && len(e.Error) > 0 && string(e.Error) != "null" {
		return errors.New("answer reports an error: " + excerpt(body))
	}
	return nil
}

type adaptiveFact struct {
	Title string `json:"title"`
	Value string `json:"value"`
}

type adaptiveElement struct {
	Type   string         `json:"type"`
	Text   string         `json:"text,omitempty"`
	Weight string         `json:"weight,omitempty"`
	Size   string         `json:"size,omitempty"`
	Wrap   bool           `json:"wrap,omitempty"`
	Facts  []adaptiveFact `json:"facts,omitempty"`
}

type adaptiveAction struct {
	Type  string `json:"type"`
	Title string `json:"title"`
	URL   string `json:"url"`
}

type adaptiveCard struct {
	Schema  string            `json:"$schema"`
	Type    string            `json:"type"`
	Version string            `json:"version"`
	Body    []adaptiveElement `json:"body"`
	Actions []adaptiveAction  `json:"actions,omitempty"`
}

type teamsAttachment struct {
	ContentType string       `json:"contentType"`
	ContentURL  *string      `json:"contentUrl"` // null, as the Workflows trigger expects
	Content     adaptiveCard `json:"content"`
}

type teamsMessage struct {
	Type        string            `json:"type"`
	Attachments []teamsAttachment `json:"attachments"`
}

func teamsWorkflowPayload(m *Message) teamsMessage {
	body := []adaptiveElement{{Type: "TextBlock", Text: escapeMarkdown(m.Title()), Weight: "Bolder", Size: "Medium", Wrap: true}}
	var facts []adaptiveFact
	for _, f := range m.Fields() {
		facts = append(facts, adaptiveFact{Title: f.Name, Value: escapeMarkdown(f.Value)})
	}
	if len(facts) > 0 {
		body = append(body, adaptiveElement{Type: "FactSet", Facts: facts})
	}
	if m.Kind == KindCode {
		body = append(body, adaptiveElement{Type: "TextBlock", Wrap: true,
			Text: "Code for session **" + escapeMarkdown(clean(m.Label, 32)) + "**: **" + escapeMarkdown(clean(m.Code, 16)) + "**"})
	}
	var actions []adaptiveAction
	if m.Kind == KindApproval && m.ApproveURL != "" {
		actions = []adaptiveAction{
			{Type: "Action.OpenUrl", Title: "Approve", URL: m.ApproveURL},
			{Type: "Action.OpenUrl", Title: "Deny", URL: m.DenyURL},
		}
	}
	return teamsMessage{Type: "message", Attachments: []teamsAttachment{{
		ContentType: "application/vnd.microsoft.card.adaptive",
		Content: adaptiveCard{
			Schema:  "http://adaptivecards.io/schemas/adaptive-card.json",
			Type:    "AdaptiveCard",
			Version: "1.4",
			Body:    body,
			Actions: actions,
		},
	}}}
}

type cardFact struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type cardSection struct {
	Facts []cardFact `json:"facts,omitempty"`
	Text  string     `json:"text,omitempty"`
}

type cardTarget struct {
	OS  string `json:"os"`
	URI string `json:"uri"`
}

type cardAction struct {
	Type    string       `json:"@type"`
	Name    string       `json:"name"`
	Targets []cardTarget `json:"targets"`
}

type messageCard struct {
	Type            string        `json:"@type"`
	Context         string        `json:"@context"`
	Summary         string        `json:"summary"`
	ThemeColor      string        `json:"themeColor,omitempty"`
	Title           string        `json:"title"`
	Sections        []cardSection `json:"sections,omitempty"`
	PotentialAction []cardAction  `json:"potentialAction,omitempty"`
}

func messageCardPayload(m *Message) messageCard {
	var sec cardSection
	for _, f := range m.Fields() {
		sec.Facts = append(sec.Facts, cardFact{Name: f.Name, Value: escapeMarkdown(f.Value)})
	}
	if m.Kind == KindCode {
		sec.Text = "Code for session **" + escapeMarkdown(clean(m.Label, 32)) + "**: **" + escapeMarkdown(clean(m.Code, 16)) + "**"
	}
	card := messageCard{
		Type:       "MessageCard",
		Context:    "http://schema.org/extensions",
		Summary:    clean(m.Title(), 150),
		ThemeColor: themeColor(m),
		Title:      escapeMarkdown(m.Title()),
		Sections:   []cardSection{sec},
	}
	if m.Kind == KindApproval && m.ApproveURL != "" {
		card.PotentialAction = []cardAction{
			{Type: "OpenUri", Name: "Approve", Targets: []cardTarget{{OS: "default", URI: m.ApproveURL}}},
			{Type: "OpenUri", Name: "Deny", Targets: []cardTarget{{OS: "default", URI: m.DenyURL}}},
		}
	}
	return card
}

func themeColor(m *Message) string {
	if m.Kind == KindAlert {
		return "D70000"
	}
	return "0076D7"
}
