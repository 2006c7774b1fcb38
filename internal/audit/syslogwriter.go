package audit

import (
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"time"
)

// SyslogWriter sends each Write as one RFC 3164 message, the way The Bastion's Perl
// Sys::Syslog does (openlog without the pid option): `<PRI>Mmm dd hh:mm:ss HOST TAG: MSG`, the
// host left out on a local socket, where the daemon adds it. So the daemon's file holds
// `… HOST bastion: open uniqid=…`, the form The Bastion's logs documentation gives and SIEM
// parsers match (log/syslog always adds "[pid]" after the tag, which they do not expect).
// Stream connections (tcp, unix stream) end each message with a newline. A failed write
// reconnects once and retries, as log/syslog does.
type SyslogWriter struct {
	network, addr string
	pri           int
	tag, host     string
	now           func() time.Time

	mu   sync.Mutex
	conn net.Conn
}

// DialSyslog connects to a syslog daemon: network udp, tcp, unixgram or unix. facility is the
// RFC 5424 code (local7 = 23); messages go at severity info.
func DialSyslog(network, addr string, facility int, tag string, now func() time.Time) (*SyslogWriter, error) {
	if now == nil {
		now = time.Now
	}
	w := &SyslogWriter{network: network, addr: addr, pri: facility<<3 | 6, tag: tag, now: now}
	if !strings.HasPrefix(network, "unix") {
		w.host, _ = os.Hostname()
		if w.host == "" {
			w.host = "localhost"
		}
	}
	if err := w.connect(); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *SyslogWriter) connect() error {
	if w.conn != nil {
		_ = w.conn.Close() // replaced: its error says nothing more
	}
	c, err := net.DialTimeout(w.network, w.addr, 5*time.Second)
	if err != nil {
		w.conn = nil
		return fmt.Errorf("syslog %s %s: %w", w.network, w.addr, err)
	}
	w.conn = c
	return nil
}

// FormatRFC3164 is one message as SyslogWriter sends it (without a stream's newline).
func FormatRFC3164(pri int, t time.Time, host, tag, msg string) string {
	// A message is one line: a newline inside would start a forged one in the daemon's file.
	msg = strings.NewReplacer("\n", " ", "\r", " ").Replace(msg)
	if host == "" {
		return fmt.Sprintf("<%d>%s %s: %s", pri, t.Format(time.Stamp), tag, msg)
	}
	return fmt.Sprintf("<%d>%s %s %s: %s", pri, t.Format(time.Stamp), host, tag, msg)
}

// Write sends p as one message.
func (w *SyslogWriter) Write(p []byte) (int, error) {
	msg := FormatRFC3164(w.pri, w.now(), w.host, w.tag, string(p))
	if w.network == "tcp" || w.network == "unix" {
		msg += "\n"
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for try := 0; try < 2; try++ {
		if w.conn == nil {
			if err := w.connect(); err != nil {
				return 0, err
			}
		}
		if _, err := w.conn.Write([]byte(msg)); err == nil {
			return len(p), nil
		} else if try == 1 {
			return 0, err
		}
		_ = w.conn.Close() // broken: reconnect and retry once
		w.conn = nil
	}
	return 0, nil
}

// Close closes the connection.
func (w *SyslogWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.conn == nil {
		return nil
	}
	err := w.conn.Close()
	w.conn = nil
	return err
}
