package notify

import (
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Kind says what a Message is for; senders lay out each kind differently.
type Kind int

const (
	// KindCode carries a secret code the user types back.
	KindCode Kind = iota + 1
	// KindApproval asks a person to approve or deny a login.
	KindApproval
	// KindAlert reports an event to administrators.
	KindAlert
)

func (k Kind) String() string {
	switch k {
	case KindCode:
		return "code"
	case KindApproval:
		return "approval"
	case KindAlert:
		return "alert"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Request is what the bastion knows about the login or action a factor
// protects: who asks, from where, for what.
type Request struct {
	Account  string // gatehouse account that asks
	SourceIP string // client address as seen by the bastion
	Target   string // user@host:port when connecting to a server, else empty
	Command  string // --osh command or remote command, else empty
}

// Message is one notification. Code, ApproveURL and DenyURL are secrets:
// LogValue leaves them out, and error messages never contain them.
type Message struct {
	Kind Kind
	Request
	Bastion   string    // name of this bastion
	Label     string    // public session label, also shown in the SSH prompt
	Code      string    // KindCode: the secret code
	When      time.Time // when the request was made
	ExpiresAt time.Time // KindCode, KindApproval: when the code or request stops working

	RequestID  string // KindApproval: value carried by Slack buttons
	ApproveURL string // KindApproval: signed one-time link (channels without buttons)
	DenyURL    string

	Alert  AlertKind // KindAlert
	Detail string    // KindAlert: free text, e.g. "5 failures in 10m"
}

// LogValue lets the message be logged without its secrets.
func (m *Message) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("kind", m.Kind.String()),
		slog.String("account", m.Account),
		slog.String("source_ip", m.SourceIP),
		slog.String("label", m.Label),
		slog.String("alert", string(m.Alert)),
	)
}

// Field is one labelled value of a message, already sanitized but not yet
// escaped for any format.
type Field struct {
	Name, Value string
}

// Title is the one-line summary shown first (and as the notification text).
func (m *Message) Title() string {
	what := m.Target
	if what == "" {
		what = m.Command
	}
	switch m.Kind {
	case KindCode:
		return "SSH login code for " + clean(m.Account, 64)
	case KindApproval:
		if what == "" {
			return "Approval needed: " + clean(m.Account, 64) + " logging in"
		}
		return "Approval needed: " + clean(m.Account, 64) + " → " + clean(what, 80)
	case KindAlert:
		return alertTitle(m)
	}
	return "gatehouse"
}

// alertTitle names the bastion first, so that an operator with several bastions in one
// channel sees at once which one speaks: "bastion-paris alert: admin login".
func alertTitle(m *Message) string {
	name := "gatehouse"
	if m.Bastion != "" {
		name = clean(m.Bastion, 64)
	}
	return name + " alert: " + m.Alert.Title()
}

// Fields lists who, from where, to what, when, where and until when.
func (m *Message) Fields() []Field {
	var fs []Field
	add := func(name, value string, max int) {
		if value != "" {
			fs = append(fs, Field{name, clean(value, max)})
		}
	}
	add("Account", m.Account, 64)
	add("From", m.SourceIP, 64)
	add("Target", m.Target, 200)
	add("Command", m.Command, 300)
	add("Bastion", m.Bastion, 64)
	if !m.When.IsZero() {
		add("When", m.When.UTC().Format(time.RFC3339), 64)
	}
	add("Session", m.Label, 32)
	if !m.ExpiresAt.IsZero() {
		exp := m.ExpiresAt.UTC().Format(time.RFC3339)
		if !m.When.IsZero() && m.ExpiresAt.After(m.When) {
			exp += fmt.Sprintf(" (in %d s)", int(m.ExpiresAt.Sub(m.When).Round(time.Second)/time.Second))
		}
		add("Expires", exp, 64)
	}
	add("Detail", m.Detail, 500)
	return fs
}

// CodeLine is the line that carries the secret code, or "" for other kinds.
func (m *Message) CodeLine() string {
	if m.Kind != KindCode {
		return ""
	}
	return "Code for session " + clean(m.Label, 32) + ": " + clean(m.Code, 16)
}

// PlainText is the whole message as plain lines; channels without structure
// (ntfy, fallbacks) use it.
func (m *Message) PlainText() string {
	var b strings.Builder
	b.WriteString(m.Title())
	for _, f := range m.Fields() {
		b.WriteString("\n" + f.Name + ": " + f.Value)
	}
	if l := m.CodeLine(); l != "" {
		b.WriteString("\n" + l)
	}
	return b.String()
}

// clean makes a user-supplied value safe to show: control characters (which
// could fake extra lines such as a second "Code:") and bidirectional
// overrides (which could reorder what a reader sees) become U+FFFD, invalid
// UTF-8 likewise, and the value is capped at max runes.
func clean(s string, max int) string {
	var b strings.Builder
	n := 0
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		if n == max {
			b.WriteString("…")
			break
		}
		if unicode.IsControl(r) || isBidiControl(r) || r == utf8.RuneError {
			r = '\uFFFD'
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}

func isBidiControl(r rune) bool {
	return (r >= 0x202A && r <= 0x202E) || (r >= 0x2066 && r <= 0x2069) || r == 0x200E || r == 0x200F || r == 0x061C
}

// escapeSlack escapes the three characters Slack's mrkdwn gives meaning to,
// so that a value cannot become a mention (<!channel>) or a link.
func escapeSlack(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// escapeMarkdown backslash-escapes the characters Markdown (Discord, Teams)
// uses for links, emphasis, code, quotes, spoilers and headings, so that a
// value shows as typed and cannot become a link. (Mentions are stopped by
// allowed_mentions on Discord; Teams needs explicit mention entities.)
func escapeMarkdown(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '\\', '*', '_', '~', '`', '|', '[', ']', '<', '>', '#':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// codeSpan wraps s in a Markdown code span (Mattermost): inside it neither
// Markdown nor @mentions are interpreted. The fence is one backtick longer
// than the longest run inside s, as CommonMark requires.
func codeSpan(s string) string {
	if s == "" {
		return ""
	}
	longest, run := 0, 0
	for _, r := range s {
		if r == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	fence := strings.Repeat("`", longest+1)
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		s = " " + s + " "
	}
	return fence + s + fence
}
