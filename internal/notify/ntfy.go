package notify

import (
	"context"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// Ntfy publishes to an ntfy server. By default URL is the topic URL
// (https://ntfy.sh/TOPIC) and the message is the text body with Title,
// Priority, Tags and Actions headers. With JSON set, URL is the server root
// (https://ntfy.sh/) and the message is a JSON publish naming Topic.
// ntfy answers 200 with the message JSON; an "error" member is a failure.
// A topic without access control works like a password: treat it as one.
type Ntfy struct {
	Endpoint
	JSON     bool   // publish as JSON to the server root
	Topic    string // JSON mode: the topic
	Token    string // optional access token (Authorization: Bearer)
	Priority int    // 1–5; default 4 for codes and approvals, 3 for alerts
}

func (n *Ntfy) Name() string { return n.Endpoint.Name }

func (n *Ntfy) Send(ctx context.Context, m *Message) error {
	h := http.Header{}
	if n.Token != "" {
		h.Set("Authorization", "Bearer "+n.Token)
	}
	var body []byte
	if n.JSON {
		if n.Topic == "" {
			return &DeliveryError{Channel: n.Endpoint.Name, Reason: "ntfy JSON mode needs a topic", Err: errors.New("missing topic")}
		}
		var err error
		if body, err = json.Marshal(ntfyJSONPayload(m, n.Topic, n.priority(m))); err != nil {
			return &DeliveryError{Channel: n.Endpoint.Name, Reason: "encoding", Err: err}
		}
		h.Set("Content-Type", "application/json")
	} else {
		body = []byte(ntfyBody(m))
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Set("Title", mime.BEncoding.Encode("utf-8", clean(m.Title(), 200)))
		h.Set("Priority", strconv.Itoa(n.priority(m)))
		h.Set("Tags", ntfyTag(m))
		if a := ntfyActionsHeader(m); a != "" {
			h.Set("Actions", a)
		}
	}
	return n.post(ctx, outbound{url: n.URL, header: h, body: body, accept: acceptNoErrorString, secrets: []string{m.Code}})
}

func (n *Ntfy) priority(m *Message) int {
	if n.Priority >= 1 && n.Priority <= 5 {
		return n.Priority
	}
	if m.Kind == KindAlert {
		return 3
	}
	return 4
}

// acceptNoErrorString: ntfy reports errors as {"code":40001,"http":400,"error":"…"}.
func acceptNoErrorString(_ int, body []byte) error {
	var e struct {
		Error string `json:"error"`
	}
	if jsonObject(body, &e) && e.Error != "" {
		return errors.New("answer reports an error: " + excerpt(body))
	}
	return nil
}

func ntfyTag(m *Message) string {
	switch m.Kind {
	case KindCode:
		return "key"
	case KindApproval:
		return "question"
	}
	return "warning"
}

// ntfyBody is the message without its title (which goes in the Title header).
func ntfyBody(m *Message) string {
	lines := make([]string, 0, 10)
	for _, f := range m.Fields() {
		lines = append(lines, f.Name+": "+f.Value)
	}
	if l := m.CodeLine(); l != "" {
		lines = append(lines, l)
	}
	return strings.Join(lines, "\n")
}

// ntfyActionsHeader uses ntfy's short action format. Our URLs are base64url
// tokens with no ',' or ';', the format's separators.
func ntfyActionsHeader(m *Message) string {
	if m.Kind != KindApproval || m.ApproveURL == "" {
		return ""
	}
	return "view, Approve, " + m.ApproveURL + ", clear=true; view, Deny, " + m.DenyURL + ", clear=true"
}

type ntfyAction struct {
	Action string `json:"action"`
	Label  string `json:"label"`
	URL    string `json:"url"`
	Clear  bool   `json:"clear"`
}

type ntfyMessage struct {
	Topic    string       `json:"topic"`
	Title    string       `json:"title"`
	Message  string       `json:"message"`
	Priority int          `json:"priority"`
	Tags     []string     `json:"tags"`
	Actions  []ntfyAction `json:"actions,omitempty"`
}

func ntfyJSONPayload(m *Message, topic string, prio int) ntfyMessage {
	msg := ntfyMessage{Topic: topic, Title: clean(m.Title(), 200), Message: ntfyBody(m), Priority: prio, Tags: []string{ntfyTag(m)}}
	if m.Kind == KindApproval && m.ApproveURL != "" {
		msg.Actions = []ntfyAction{
			{Action: "view", Label: "Approve", URL: m.ApproveURL, Clear: true},
			{Action: "view", Label: "Deny", URL: m.DenyURL, Clear: true},
		}
	}
	return msg
}
