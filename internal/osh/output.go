package osh

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"gatehouse/internal/refusal"
)

// Result is what every command and every refusal produces. Human text and JSON both come from it.
type Result struct {
	// Command is the command's name, or "" when the refusal came before any command ran
	// (then the JSON says null, as The Bastion's dispatcher does).
	Command string
	// Code matches ^(OK|KO|ERR)[A-Z0-9_]*$: OK* success, KO* refusal, ERR* error.
	Code string
	// Message is a sentence for people; never empty in output (it falls back to Code).
	Message string
	Value   any
	// Exit overrides the exit status derived from Code (dispatcher refusals carry their own).
	Exit int
}

// OK returns a success result with a value.
func OK(cmd string, value any) Result {
	return Result{Command: cmd, Code: "OK", Message: "OK", Value: value}
}

// Fail returns a command's failure: code ERR_* or KO_*, with a sentence saying what to do.
func Fail(cmd, code, format string, a ...any) Result {
	return Result{Command: cmd, Code: code, Message: fmt.Sprintf(format, a...)}
}

// Success reports whether the code is an OK* code.
func (r Result) Success() bool { return strings.HasPrefix(r.Code, "OK") }

// ExitCode is the process exit status The Bastion gives for this result.
func (r Result) ExitCode() int {
	if r.Exit != 0 {
		return r.Exit
	}
	if r.Success() {
		return 0
	}
	if r.Command != "" && !strings.HasPrefix(r.Code, "KO_MFA_FAILED") {
		return ExitPluginFailed // a command's own failure
	}
	return refusal.ExitOf(r.Code)
}

// Exit statuses: the one table is internal/refusal's; these names are the command language's.
const (
	ExitOK                 = refusal.ExitOK
	ExitPluginFailed       = refusal.ExitPluginFailed
	ExitInactive           = refusal.ExitInactive
	ExitHostNotFound       = refusal.ExitHostNotFound
	ExitUnknownCommand     = refusal.ExitUnknownCommand
	ExitRestrictedCommand  = refusal.ExitRestrictedCommand
	ExitAccessDenied       = refusal.ExitAccessDenied
	ExitGetoptsFailed      = refusal.ExitGetoptsFailed
	ExitNoHost             = refusal.ExitNoHost
	ExitAccountExpired     = refusal.ExitAccountExpired
	ExitInteractiveOff     = refusal.ExitInteractiveOff
	ExitConflictingOptions = refusal.ExitConflictingOptions
	ExitMaintenance        = refusal.ExitMaintenance
	ExitTTLExpired         = refusal.ExitTTLExpired
	ExitPasswordSetup      = refusal.ExitPasswordSetup
	ExitTOTPSetup          = refusal.ExitTOTPSetup
	ExitAnySetup           = refusal.ExitAnySetup
	ExitMFAFailed          = refusal.ExitMFAFailed
	ExitInvalidUser        = refusal.ExitInvalidUser
	ExitInvalidHost        = refusal.ExitInvalidHost
	ExitFrozen             = refusal.ExitFrozen
	ExitInvalidPort        = refusal.ExitInvalidPort
)

// Refused is a lifecycle refusal (access decision, MFA policy, relay) as the command language's
// result: command null, its code, message and exit status. The one conversion between the two.
func Refused(r *refusal.Refusal) Result {
	return Result{Code: r.Code, Message: r.Message, Exit: r.Exit}
}

// Refuse builds a dispatcher refusal: command null, value null, The Bastion's exit status.
func Refuse(code, format string, a ...any) Result {
	return Result{Code: code, Message: fmt.Sprintf(format, a...)}
}

// MarshalJSON renders the four keys, with command null when no command ran.
func (r Result) MarshalJSON() ([]byte, error) { return r.appendJSON(nil) }

// appendJSON appends MarshalJSON's bytes to dst: a JSONAppender value is written straight
// after the envelope, in the same buffer (EncodeJSON frames megabyte answers without copying
// them again; a second 10 MB allocation made the garbage collector take a share of the
// command's time, issue 14).
func (r Result) appendJSON(dst []byte) ([]byte, error) {
	a, appender := r.Value.(JSONAppender)
	if !appender {
		env, err := r.envelope(r.Value)
		if err != nil {
			return nil, err
		}
		return append(dst, env...), nil
	}
	// The envelope with a null value, then the value written in place of the null.
	head, err := r.envelopeHead()
	if err != nil {
		return nil, err
	}
	return append(a.AppendJSON(append(dst, head...)), '}'), nil
}

// JSONAppender is a value that writes its own JSON: the listing answers of megabytes (issue
// 14), written without reflection. AppendJSON must append compact JSON, the bytes encoding/json
// writes for the same value with HTML escaping off (AppendJSONString for strings); such a value
// should also implement json.Marshaler for the other encoders.
type JSONAppender interface {
	AppendJSON(b []byte) []byte
}

// AppendJSONString appends s as a JSON string, byte for byte as encoding/json writes it with
// HTML escaping off: invalid UTF-8 as \ufffd, U+2028 and U+2029 escaped (FuzzAppendJSONString).
func AppendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

func marshal(v any, indent string) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if indent != "" {
		enc.SetIndent("", indent)
	}
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// asciiEscape turns every non-ASCII character into \uXXXX (surrogate pairs beyond the BMP), as
// The Bastion's encoder does; in valid JSON such characters only occur inside strings. A body
// that is all ASCII is returned as is: listing answers are megabytes (issue 14), and copying
// them byte by byte was a tenth of their time.
func asciiEscape(b []byte) []byte {
	i := asciiPrefix(b)
	if i == len(b) {
		return b
	}
	out := make([]byte, 0, len(b)+len(b)/8)
	for len(b) > 0 {
		out, b = append(out, b[:i]...), b[i:]
		if len(b) == 0 {
			break
		}
		r, size := utf8.DecodeRune(b)
		if r > 0xFFFF {
			r -= 0x10000
			out = fmt.Appendf(out, `\u%04x\u%04x`, 0xD800+(r>>10), 0xDC00+(r&0x3FF))
		} else {
			out = fmt.Appendf(out, `\u%04x`, r)
		}
		b = b[size:]
		i = asciiPrefix(b)
	}
	return out
}

// asciiPrefix is the length of b's leading run of ASCII bytes.
func asciiPrefix(b []byte) int {
	for i, c := range b {
		if c >= utf8.RuneSelf {
			return i
		}
	}
	return len(b)
}

var markerFix = strings.NewReplacer("JSON_START", "JSON__START", "JSON_END", "JSON__END", "JSON_OUTPUT", "JSON__OUTPUT")

// EncodeJSON renders r in the framing mode asks for; JSONNone renders nothing. The answer is
// written once, into the framed buffer, and copied again only when it holds non-ASCII text or a
// marker to rewrite (issue 14: listing answers are megabytes).
func EncodeJSON(r Result, mode JSONMode) ([]byte, error) {
	const start, end, grep = "\nJSON_START\n", "\nJSON_END\n", "\nJSON_OUTPUT="
	var out []byte
	var err error
	switch mode {
	case JSONNone:
		return nil, nil
	case JSONPretty:
		body, err := r.MarshalJSON()
		if err != nil {
			return nil, err
		}
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			return nil, err
		}
		if body, err = marshal(v, "   "); err != nil {
			return nil, err
		}
		out = append([]byte(start), body...)
	case JSONGreppable:
		out, err = r.appendJSON([]byte(grep))
	default:
		out, err = r.appendJSON([]byte(start))
	}
	if err != nil {
		return nil, err
	}
	n := len(start)
	if mode == JSONGreppable {
		n = len(grep)
	}
	if body := asciiEscape(out[n:]); len(body) != len(out)-n {
		out = append(out[:n], body...) // escaped: longer, a new slice
	}
	// Markers inside the payload would confuse parsers that look for them.
	if bytes.Contains(out[n:], []byte("JSON_")) {
		out = append(out[:n:n], markerFix.Replace(string(out[n:]))...)
	}
	if mode == JSONGreppable {
		for i, c := range out[n:] {
			if c == '\r' || c == '\n' {
				out[n+i] = ' '
			}
		}
		return append(out, '\n'), nil
	}
	return append(out, end...), nil
}

// Printer writes human text inside The Bastion's box, or bare lines with --quiet.
//
// The box is open on the right and its output streams (a QR code is on screen before the code
// it asks for is typed), so its top is drawn before its width is known: every line keeps the
// left border, and the bottom rule is drawn as wide as the widest line printed, measured in
// terminal columns (DisplayWidth), but never wider than the terminal (Width): a rule the
// terminal wraps would draw a stray line of dashes. Lines are never wrapped by the bastion:
// tables, QR codes and codes stay copyable (a line wider than the terminal is the terminal's
// to wrap).
type Printer struct {
	W     io.Writer
	Quiet bool
	// Width is the terminal's width in columns (0: unknown, or no terminal).
	Width int
	// widest is the widest line printed so far, in columns, border included.
	widest int
	// buf is the line being written, reused: a listing prints 10,000 lines (issue 14).
	buf []byte
	// raw is set while Block prints the bastion's own text (the QR code's colours).
	raw bool
}

// Line prints one line of human output.
func (p *Printer) Line(format string, a ...any) {
	if p.W == io.Discard {
		return
	}
	p.lines(fmt.Sprintf(format, a...))
}

// Block prints text as it is, each line inside the box: a QR code, a secret, scratch codes.
// A trailing newline ends the last line rather than adding an empty one.
func (p *Printer) Block(text string) {
	p.raw = true
	defer func() { p.raw = false }()
	p.lines(strings.TrimSuffix(text, "\n"))
}

func (p *Printer) lines(text string) {
	if p.W == io.Discard {
		return // a printer for nothing (groupInfo --all's per-group lines): no formatting either
	}
	for {
		l, rest, more := strings.Cut(text, "\n")
		p.write(l)
		if !more {
			return
		}
		text = rest
	}
}

// write writes one line, in the box unless quiet, in one write.
func (p *Printer) write(l string) {
	if !p.raw && !controlFree(l) {
		l = string(appendVisible(nil, l))
	}
	p.buf = p.buf[:0]
	if !p.Quiet {
		p.buf = append(p.buf, "│ "...)
		p.widest = max(p.widest, 2+DisplayWidth(l))
	}
	p.buf = append(append(p.buf, l...), '\n')
	p.writeBuf()
}

// controlFree says whether l holds nothing a terminal acts on: no C0 control but tab, no DEL,
// no C1 control (U+0080–U+009F, CSI among them), no byte that is not UTF-8 (an 8-bit
// terminal reads 0x9b as CSI). Human output prints values other people set (a key's comment,
// an account's comment, a remote command in a session list): printed as they are, escape
// sequences in them would act on the reader's terminal (clear it and draw a fake listing, set
// its title, write its clipboard with OSC 52).
func controlFree(l string) bool {
	ascii := true
	for i := 0; i < len(l); i++ {
		c := l[i]
		if c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
		if c >= utf8.RuneSelf {
			ascii = false
		}
	}
	if ascii {
		return true
	}
	for _, r := range l { // an invalid byte comes as RuneError
		if r == utf8.RuneError || r >= 0x80 && r <= 0x9f {
			return false // (a real U+FFFD is rewritten as itself by appendVisible)
		}
	}
	return true
}

// controlFreeBytes is controlFree without a copy for ASCII (a listing's lines).
func controlFreeBytes(l []byte) bool {
	for _, c := range l {
		if c < 0x20 && c != '\t' || c == 0x7f || c >= utf8.RuneSelf {
			return controlFree(string(l))
		}
	}
	return true
}

// appendVisible appends l to dst with what controlFree refuses written as text (\x1b, \u009b).
func appendVisible(dst []byte, l string) []byte {
	for i := 0; i < len(l); {
		r, n := utf8.DecodeRuneInString(l[i:])
		switch {
		case r == utf8.RuneError && n == 1, r < 0x20 && r != '\t', r == 0x7f:
			dst = fmt.Appendf(dst, "\\x%02x", l[i])
		case r >= 0x80 && r <= 0x9f:
			dst = fmt.Appendf(dst, "\\u%04x", r)
		default:
			dst = append(dst, l[i:i+n]...)
		}
		i += n
	}
	return dst
}

// writeBuf writes the line in buf. A line of human output never holds a JSON frame's marker:
// with --quiet it is printed bare, and a value a user set (a comment, a key's comment) could
// otherwise print a JSON_START line of its own before the real frame, for a script to parse.
func (p *Printer) writeBuf() {
	if bytes.Contains(p.buf, []byte("JSON_")) {
		p.buf = append(p.buf[:0], markerFix.Replace(string(p.buf))...)
	}
	_, _ = p.W.Write(p.buf)
}

// LineBytes prints one line of human output made by the caller (no line break in it), without
// formatting: the lines of a listing of 10,000 accounts (issue 14).
func (p *Printer) LineBytes(l []byte) {
	if p.W == io.Discard {
		return
	}
	if bytes.IndexByte(l, '\n') >= 0 {
		p.lines(string(l))
		return
	}
	// One pass for the common line, printable ASCII: its width is its length, and it holds
	// nothing a terminal acts on.
	plain := true
	for _, c := range l {
		if c < 0x20 || c >= 0x7f {
			plain = false
			break
		}
	}
	if !plain && !controlFreeBytes(l) {
		p.write(string(l))
		return
	}
	p.buf = p.buf[:0]
	if !p.Quiet {
		p.buf = append(p.buf, "│ "...)
		w := len(l)
		if !plain {
			w = DisplayWidthBytes(l)
		}
		p.widest = max(p.widest, 2+w)
	}
	p.buf = append(append(p.buf, l...), '\n')
	p.writeBuf()
}

// Border is what starts a line inside the box ("" with --quiet), for text written to W
// directly, such as a prompt.
func (p *Printer) Border() string {
	if p.Quiet {
		return ""
	}
	return "│ "
}

const boxWidth = 75

// rule is how wide a rule of the box is drawn: want, within the terminal's width.
func (p *Printer) rule(want int) int {
	if p.Width > 0 && want > p.Width {
		return p.Width
	}
	return want
}

// Header opens the box: bastion name, version and the command's title.
func (p *Printer) Header(bastion, version, title string) {
	if p.Quiet {
		return
	}
	width := p.rule(boxWidth)
	left := "╭──" + bastion
	right := "gatehouse-" + version + "───"
	fill := width - DisplayWidth(left) - DisplayWidth(right)
	if fill < 3 {
		right = "" // a narrow terminal: the name alone
		fill = max(width-DisplayWidth(left), 1)
	}
	fmt.Fprintln(p.W, left+strings.Repeat("─", fill)+right)
	if title != "" {
		fmt.Fprintln(p.W, "│ ▶ "+title)
		fmt.Fprintln(p.W, "├"+strings.Repeat("─", width-1))
	}
}

// Footer closes the box with the command's name.
func (p *Printer) Footer(cmd string) {
	if p.Quiet {
		return
	}
	tag := "</" + cmd + ">───"
	if cmd == "" {
		tag = "───"
	}
	width := p.rule(max(boxWidth, p.widest+1))
	fill := width - 1 - DisplayWidth(tag)
	if fill < 3 {
		tag, fill = "", max(width-1, 1)
	}
	fmt.Fprintln(p.W, "╰"+strings.Repeat("─", fill)+tag)
}
