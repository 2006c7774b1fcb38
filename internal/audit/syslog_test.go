package audit

import (
	"io"
	"log/slog"
	"log/syslog"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestMaskArgs(t *testing.T) {
	tests := []struct {
		in, want []string
	}{
		{[]string{"--osh", "selfAddPersonalAccess", "--host", "10.0.0.1"}, []string{"--osh", "selfAddPersonalAccess", "--host", "10.0.0.1"}},
		{[]string{"selfMFASetupPassword", "--password", "hunter2"}, []string{"selfMFASetupPassword", "--password", Masked}},
		{[]string{"--password=hunter2", "--yes"}, []string{"--password=" + Masked, "--yes"}},
		{[]string{"--code", "123456"}, []string{"--code", Masked}},
		{[]string{"--totp", "654321", "--account", "bob"}, []string{"--totp", Masked, "--account", "bob"}},
		{[]string{"--webhook-secret", "s3cr3t"}, []string{"--webhook-secret", Masked}},
		{[]string{"--api-token=abc"}, []string{"--api-token=" + Masked}},
		{[]string{"--Secret", "--looks-like-an-option"}, []string{"--Secret", Masked}},
		{[]string{"--mfa-password-required", "yes"}, []string{"--mfa-password-required", "yes"}},
		{[]string{"--password"}, []string{"--password"}},
	}
	for _, tt := range tests {
		got := MaskArgs(tt.in)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("MaskArgs(%q) = %q, want %q", tt.in, got, tt.want)
		}
		for _, a := range got {
			if strings.Contains(a, "hunter2") || strings.Contains(a, "123456") || strings.Contains(a, "s3cr3t") {
				t.Errorf("secret left in %q", got)
			}
		}
	}
	in := []string{"--password", "x"}
	MaskArgs(in)
	if in[1] != "x" {
		t.Error("MaskArgs modified its input")
	}
}

func TestFormatSyslog(t *testing.T) {
	tests := []struct {
		name string
		ev   Event
		want string
	}{
		{"open line in The Bastion's order", Event{Type: TypeConnectionOpen, Fields: Fields{
			UniqID: "a1b2c3d4e5f6", Account: "alice", CmdType: "ssh", Allowed: Bool(true),
			IPFrom: "192.0.2.1", PortFrom: 51000, IPBastion: "192.0.2.10", PortBastion: 22,
			User: "root", IPTo: "10.0.0.1", PortTo: 22,
		}}, `open uniqid="a1b2c3d4e5f6" account="alice" cmdtype="ssh" allowed="true" ip_from="192.0.2.1" port_from="51000" ip_bastion="192.0.2.10" port_bastion="22" user="root" ip_to="10.0.0.1" port_to="22"`},
		{"close with result", Event{Type: TypeConnectionClose, Fields: Fields{
			UniqID: "a1", Allowed: Bool(false), ExitStatus: Int(0), Duration: 12.5, BytesIn: 10, BytesOut: 2048,
			RecordingID: "r1", RecordingSHA256: "ab",
		}}, `close uniqid="a1" allowed="false" exit_status="0" duration="12.500" bytes_in="10" bytes_out="2048" recording_id="r1" recording_sha256="ab"`},
		{"escaping", Event{Type: TypeOshCommand, Fields: Fields{
			Params: []string{`a\b`, `say "hi"`, "new\nline\x1b[0m\x7f"},
		}}, `osh.command params="a\\b say \"hi\" new\x0Aline\x1B[0m\x7F"`},
		{"extra keys sorted and sanitised", Event{Type: TypeHostKeyMismatch, Fields: Fields{
			Extra: map[string]string{"zeta": "1", "fingerprint": "SHA256:x", `bad key="x`: "v"},
		}}, `hostkey.mismatch bad_key__x="v" fingerprint="SHA256:x" zeta="1"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := FormatSyslog(tt.ev); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

// TestSyslogSinkOverUDP plugs log/syslog into the log and reads what a
// syslog daemon on 127.0.0.1 would receive.
func TestSyslogSinkOverUDP(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	w, err := syslog.Dial("udp", pc.LocalAddr().String(), syslog.LOG_INFO|syslog.LOG_AUTH, "gatehouse")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	l := openLog(t, Options{Dir: logDir(t), Sinks: []Sink{SyslogSink{W: w}}})
	defer l.Close()
	if err := l.Append(openEvent(7)); err != nil {
		t.Fatal(err)
	}
	pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	var got []string
	for len(got) < 3 { // the start checkpoint, audit.start, then our event
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatalf("no syslog datagram: %v (got %q)", err, got)
		}
		got = append(got, string(buf[:n]))
	}
	if !strings.Contains(got[0], `audit.checkpoint hash="`) || !strings.Contains(got[0], `kind="start"`) || !strings.Contains(got[0], `seq="1"`) {
		t.Errorf("the start checkpoint is not in syslog first: %q", got[0])
	}
	msg := got[2]
	if !strings.HasPrefix(msg, "<38>") { // LOG_AUTH (4<<3) | LOG_INFO (6)
		t.Errorf("priority: %q", msg)
	}
	if !strings.Contains(msg, `gatehouse[`) || !strings.Contains(msg, `open uniqid="000000000007" account="alice"`) {
		t.Errorf("syslog message %q", msg)
	}
}

type failingSink struct{ calls int }

func (s *failingSink) Emit(Event) error { s.calls++; return net.ErrClosed }

func TestSinkFailureDoesNotFailAppend(t *testing.T) {
	s := &failingSink{}
	l := openLog(t, Options{Dir: logDir(t), Sinks: []Sink{s}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	defer l.Close()
	if err := l.Append(openEvent(1)); err != nil {
		t.Errorf("Append failed because a sink failed: %v", err)
	}
	if s.calls != 3 { // the start checkpoint, audit.start, the event
		t.Errorf("sink called %d times, want 3", s.calls)
	}
}
