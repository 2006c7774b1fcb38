package audit

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// Sink receives each event after it is in the log file. The file is the
// authority; a sink failure is logged and does not fail Append. Sinks are
// called outside the log's lock, one event at a time per Append call, so a
// slow sink delays only the goroutine that appended.
type Sink interface {
	Emit(ev Event) error
}

// SyslogSink writes FormatSyslog lines to W: a *syslog.Writer from
// log/syslog (syslog.New or syslog.Dial), or any io.Writer. With Bastion
// set, it writes The Bastion's lines instead (BastionSyslog), one Write
// per line, so each is one syslog message.
type SyslogSink struct {
	W       io.Writer
	Bastion *BastionSyslog
}

// Emit implements Sink.
func (s SyslogSink) Emit(ev Event) error {
	if s.Bastion == nil {
		_, err := io.WriteString(s.W, FormatSyslog(ev))
		return err
	}
	for _, l := range s.Bastion.Lines(ev) {
		if _, err := io.WriteString(s.W, l); err != nil {
			return err
		}
	}
	return nil
}

// SyslogMsgType maps an event type to The Bastion's syslog message type
// (open, close, account …); other types are used as they are.
func SyslogMsgType(eventType string) string {
	switch eventType {
	case TypeConnectionOpen:
		return "open"
	case TypeConnectionClose:
		return "close"
	case TypeAccountChange:
		return "account"
	case TypeGroupChange:
		return "group"
	case TypeGrantChange:
		return "acl"
	}
	return eventType
}

// FormatSyslog formats ev as The Bastion does: `<msgtype> key="value" …`,
// keys in Fields order then extra keys sorted, values with `\` doubled,
// `"` escaped and control characters written \xNN.
func FormatSyslog(ev Event) string {
	var b strings.Builder
	b.WriteString(SyslogMsgType(ev.Type))
	for _, kv := range fieldPairs(ev.Fields) {
		b.WriteByte(' ')
		b.WriteString(syslogKey(kv[0]))
		b.WriteString(`="`)
		writeEscaped(&b, kv[1], hexUpper)
		b.WriteByte('"')
	}
	return b.String()
}

// writeEscaped writes v with \ and " escaped and control characters as \xNN, the two hex
// digits from digits (gatehouse's own lines upper-case, The Bastion's lower-case). Bytes from
// 0x80 up (UTF-8) are kept as they are.
func writeEscaped(b *strings.Builder, v, digits string) {
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '\\':
			b.WriteString(`\\`)
		case c == '"':
			b.WriteString(`\"`)
		case c < 0x20 || c == 0x7f:
			b.WriteString(`\x`)
			b.WriteByte(digits[c>>4])
			b.WriteByte(digits[c&0xf])
		default:
			b.WriteByte(c)
		}
	}
}

const hexUpper = "0123456789ABCDEF"

// syslogKey keeps extra keys to [a-z0-9_] so they cannot forge structure.
func syslogKey(k string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_':
			return r
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		}
		return '_'
	}, k)
}

// fieldPairs lists the non-zero fields as (The Bastion name, value).
func fieldPairs(f Fields) [][2]string {
	var p [][2]string
	str := func(k, v string) {
		if v != "" {
			p = append(p, [2]string{k, v})
		}
	}
	num := func(k string, v int64) {
		if v != 0 {
			p = append(p, [2]string{k, strconv.FormatInt(v, 10)})
		}
	}
	str("uniqid", f.UniqID)
	str("account", f.Account)
	str("cmdtype", f.CmdType)
	if f.Allowed != nil {
		str("allowed", strconv.FormatBool(*f.Allowed))
	}
	str("ip_from", f.IPFrom)
	num("port_from", int64(f.PortFrom))
	str("ip_bastion", f.IPBastion)
	num("port_bastion", int64(f.PortBastion))
	str("user", f.User)
	str("ip_to", f.IPTo)
	num("port_to", int64(f.PortTo))
	str("host_to", f.HostTo)
	str("plugin", f.Plugin)
	if len(f.Params) > 0 {
		str("params", strings.Join(f.Params, " "))
	}
	str("factor", f.Factor)
	str("result", f.Result)
	if f.ExitStatus != nil {
		p = append(p, [2]string{"exit_status", strconv.Itoa(*f.ExitStatus)})
	}
	str("signal", f.Signal)
	if f.Duration != 0 {
		str("duration", strconv.FormatFloat(f.Duration, 'f', 3, 64))
	}
	num("bytes_in", f.BytesIn)
	num("bytes_out", f.BytesOut)
	str("recording_id", f.RecordingID)
	str("recording_sha256", f.RecordingSHA256)
	num("recording_size", f.RecordingSize)
	str("comment", f.Comment)
	keys := make([]string, 0, len(f.Extra))
	for k := range f.Extra {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		str(k, f.Extra[k])
	}
	return p
}

// Anchor is a signed checkpoint recorded outside the log: its seq and the
// hash of its line. Verify checks the log still holds it.
type Anchor struct {
	Seq    uint64
	Hash   string
	Source string // where it was read, for the report ("syslog line 12")
}

// ParseSyslogAnchors reads the audit.checkpoint lines that gatehouse sent
// to syslog (FormatSyslog of TypeAuditCheckpoint events, after whatever
// prefix the syslog daemon adds) and returns their anchors, the highest seq
// last. Lines about anything else are skipped; an audit.checkpoint line
// whose seq or hash cannot be read is an error, since a truncated anchor
// could hide a truncated log.
func ParseSyslogAnchors(r io.Reader, keyID string) ([]Anchor, error) {
	var out []Anchor
	n := 0
	err := eachLine(r, func(line []byte, _ bool) error {
		n++
		s := string(line)
		i := strings.Index(s, TypeAuditCheckpoint+" ")
		if i < 0 {
			return nil
		}
		kv, err := parseSyslogPairs(s[i+len(TypeAuditCheckpoint)+1:])
		if err != nil {
			return fmt.Errorf("syslog line %d: %w", n, err)
		}
		if keyID != "" && kv["key"] != "" && kv["key"] != keyID {
			return nil // another bastion's log sharing the syslog
		}
		seq, err := strconv.ParseUint(kv["seq"], 10, 64)
		if err != nil || seq == 0 {
			return fmt.Errorf("syslog line %d: audit.checkpoint without a valid seq", n)
		}
		h := kv["hash"]
		if len(h) != 64 || strings.Trim(h, "0123456789abcdef") != "" {
			return fmt.Errorf("syslog line %d: audit.checkpoint without a valid hash", n)
		}
		out = append(out, Anchor{Seq: seq, Hash: h, Source: fmt.Sprintf("syslog line %d", n)})
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(out, func(a, b Anchor) int { return cmp.Compare(a.Seq, b.Seq) })
	return out, nil
}

// parseSyslogPairs reads FormatSyslog's ` key="value"` pairs, undoing its
// escapes.
func parseSyslogPairs(s string) (map[string]string, error) {
	kv := map[string]string{}
	for {
		s = strings.TrimLeft(s, " ")
		if s == "" {
			return kv, nil
		}
		eq := strings.Index(s, `="`)
		if eq <= 0 || strings.ContainsAny(s[:eq], " \"") {
			return nil, errors.New("malformed key=\"value\" pair")
		}
		key := s[:eq]
		s = s[eq+2:]
		var b strings.Builder
		closed := false
		for i := 0; i < len(s); i++ {
			c := s[i]
			if c == '"' {
				s, closed = s[i+1:], true
				break
			}
			if c != '\\' {
				b.WriteByte(c)
				continue
			}
			if i+1 >= len(s) {
				return nil, errors.New("dangling escape")
			}
			i++
			switch s[i] {
			case '\\', '"':
				b.WriteByte(s[i])
			case 'x':
				if i+2 >= len(s) {
					return nil, errors.New("short \\x escape")
				}
				v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
				if err != nil {
					return nil, errors.New("bad \\x escape")
				}
				b.WriteByte(byte(v))
				i += 2
			default:
				return nil, errors.New("unknown escape")
			}
		}
		if !closed {
			return nil, errors.New("unterminated value")
		}
		if _, dup := kv[key]; dup {
			return nil, fmt.Errorf("key %s given twice", key)
		}
		kv[key] = b.String()
	}
}
