package open

import (
	"context"
	"errors"
	"fmt"
	"net"
	"reflect"
	"strings"
	"syscall"
	"testing"
)

func TestCheckProbeHost(t *testing.T) {
	for _, tc := range []struct {
		in, want, code string
	}{
		{"127.0.0.1", "127.0.0.1", ""},
		{"::1", "::1", ""},
		{"::ffff:10.0.0.1", "10.0.0.1", ""},
		{"Server-1.Example.org", "server-1.example.org", ""},
		{"srv.example.org.", "srv.example.org", ""},
		{"", "", "ERR_MISSING_PARAMETER"},
		{"10.0.0.0/24", "", "ERR_INVALID_PARAMETER"},
		{"10.0.0.1/32", "", "ERR_INVALID_PARAMETER"},
		{"-f", "", "KO_INVALID_REMOTE_HOST"},
		{"--flood", "", "KO_INVALID_REMOTE_HOST"},
		{"a.-b.example", "", "KO_INVALID_REMOTE_HOST"},
		{"127.0.0.1;reboot", "", "KO_INVALID_REMOTE_HOST"},
		{"$(id)", "", "KO_INVALID_REMOTE_HOST"},
		{"a`id`", "", "KO_INVALID_REMOTE_HOST"},
		{"a b", "", "KO_INVALID_REMOTE_HOST"},
		{"a|b", "", "KO_INVALID_REMOTE_HOST"},
		{"a\nb", "", "KO_INVALID_REMOTE_HOST"},
		{"10.0.0.256", "", "KO_INVALID_REMOTE_HOST"},
		{"fe80::1%eth0", "", "KO_INVALID_REMOTE_HOST"},
		{strings.Repeat("a.", 130) + "b", "", "KO_INVALID_REMOTE_HOST"},
	} {
		got, err := CheckProbeHost(tc.in)
		code := ""
		if err != nil {
			var pe *ProbeHostError
			if !errors.As(err, &pe) {
				t.Fatalf("%q: error %T", tc.in, err)
			}
			code = pe.Code
		}
		if got != tc.want || code != tc.code {
			t.Errorf("CheckProbeHost(%q) = %q, %q; want %q, %q", tc.in, got, code, tc.want, tc.code)
		}
	}
}

// FuzzCheckProbeHost: whatever a user types, an accepted host is one word that no tool can read
// as an option and no shell as syntax, and the check never panics.
func FuzzCheckProbeHost(f *testing.F) {
	for _, s := range []string{"127.0.0.1", "::1", "-f", "a;b", "srv.example.org", "10.0.0.0/8", "$(x)", "a\x00b", "é.example"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := CheckProbeHost(s)
		if err != nil {
			if h != "" {
				t.Fatalf("refused %q but returned %q", s, h)
			}
			return
		}
		if h == "" || strings.HasPrefix(h, "-") || strings.ContainsAny(h, " \t\n\r;|&$`'\"\\<>(){}*?/!#~=%\x00") {
			t.Fatalf("accepted %q as %q", s, h)
		}
	})
}

func TestPingArgs(t *testing.T) {
	for _, tc := range []struct {
		o    PingOptions
		want string // "" with err
		err  string
	}{
		{PingOptions{}, "-w 3600 -- h", ""},
		{PingOptions{Count: 3, Size: 100, TTL: 5, Deadline: 10}, "-c 3 -s 100 -t 5 -w 10 -- h", ""},
		{PingOptions{Count: 3600}, "-c 3600 -w 3600 -- h", ""},
		{PingOptions{Count: 3601}, "", "-c 3601 is out of range"},
		{PingOptions{Count: -1}, "", "-c -1 is out of range"},
		{PingOptions{Size: 10000}, "", "-s 10000"},
		{PingOptions{TTL: 256}, "", "-t 256"},
		{PingOptions{Deadline: 3601}, "", "-w 3601"},
		{PingOptions{Deadline: -5}, "", "-w -5"},
	} {
		args, err := PingArgs(tc.o, "h")
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%+v: err %v, want %q", tc.o, err, tc.err)
		case tc.err == "" && (err != nil || strings.Join(args, " ") != tc.want):
			t.Errorf("%+v: %q %v, want %q", tc.o, args, err, tc.want)
		}
	}
}

func TestParsePingOutput(t *testing.T) {
	linux := []string{"PING 127.0.0.1 (127.0.0.1) 56(84) bytes of data.", "64 bytes from 127.0.0.1: icmp_seq=1 ttl=64 time=0.049 ms",
		"--- 127.0.0.1 ping statistics ---", "2 packets transmitted, 2 received, 0% packet loss, time 1022ms",
		"rtt min/avg/max/mdev = 0.049/0.049/0.050/0.000 ms"}
	bsd := []string{"2 packets transmitted, 1 packets received, 50.0% packet loss", "round-trip min/avg/max/stddev = 0.057/0.073/0.089/0.000 ms"}
	errs := []string{"3 packets transmitted, 0 received, +3 errors, 100% packet loss, time 2040ms"}
	for _, tc := range []struct {
		lines []string
		want  map[string]any
	}{
		{linux, map[string]any{"packets_transmitted": "2", "packets_received": "2", "packets_loss_percentage": "0", "ping_duration": "1022",
			"min": "0.049", "avg": "0.049", "max": "0.050", "mdev": "0.000"}},
		{bsd, map[string]any{"packets_transmitted": "2", "packets_received": "1", "packets_loss_percentage": "50",
			"min": "0.057", "avg": "0.073", "max": "0.089", "mdev": "0.000"}},
		{errs, map[string]any{"packets_transmitted": "3", "packets_received": "0", "packets_loss_percentage": "100", "ping_duration": "2040"}},
		{nil, map[string]any{}},
	} {
		if got := ParsePingOutput(tc.lines); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParsePingOutput(%q) = %v, want %v", tc.lines, got, tc.want)
		}
	}
}

func TestNCResult(t *testing.T) {
	timeout := &net.OpError{Op: "dial", Err: timeoutErr{}}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, "open"},
		{&net.OpError{Op: "dial", Err: fmt.Errorf("connect: %w", syscall.ECONNREFUSED)}, "closed"},
		{timeout, "timeout"},
		{context.DeadlineExceeded, "timeout"},
		{&net.OpError{Op: "dial", Err: syscall.EHOSTUNREACH}, "unknown"},
		{errors.New("no such host"), "unknown"},
	} {
		if got := NCResult(tc.err); got != tc.want {
			t.Errorf("NCResult(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestToolProcAttr(t *testing.T) {
	if a := ToolProcAttr(1000); a != nil {
		t.Errorf("a non-root gatehouse changes the tools' user: %+v", a)
	}
	a := ToolProcAttr(0)
	if a == nil || a.Credential == nil || a.Credential.Uid != 65534 || a.Credential.Gid != 65534 || len(a.Credential.Groups) != 0 {
		t.Errorf("root: %+v", a)
	}
}
