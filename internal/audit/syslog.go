package audit

import (
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
// log/syslog (syslog.New or syslog.Dial), or any io.Writer.
type SyslogSink struct {
	W io.Writer
}

// Emit implements Sink.
func (s SyslogSink) Emit(ev Event) error {
	_, err := io.WriteString(s.W, FormatSyslog(ev))
	return err
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
		writeSyslogValue(&b, kv[1])
		b.WriteByte('"')
	}
	return b.String()
}

func writeSyslogValue(b *strings.Builder, v string) {
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '\\':
			b.WriteString(`\\`)
		case c == '"':
			b.WriteString(`\"`)
		case c < 0x20 || c == 0x7f:
			b.WriteString(`\x`)
			b.WriteByte(hexUpper[c>>4])
			b.WriteByte(hexUpper[c&0xf])
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
