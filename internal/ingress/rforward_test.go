package ingress

import (
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

func TestParseTCPIPForward(t *testing.T) {
	cases := []struct {
		name    string
		payload []byte
		addr    string
		port    int
		ok      bool
	}{
		{"localhost", ssh.Marshal(tcpipForward{"localhost", 8080}), "localhost", 8080, true},
		{"any address", ssh.Marshal(tcpipForward{"", 9000}), "", 9000, true},
		{"port 0 is parsed, the decision refuses it", ssh.Marshal(tcpipForward{"127.0.0.1", 0}), "127.0.0.1", 0, true},
		{"port too big", ssh.Marshal(tcpipForward{"localhost", 70000}), "", 0, false},
		{"NUL", ssh.Marshal(tcpipForward{"local\x00host", 80}), "", 0, false},
		{"newline", ssh.Marshal(tcpipForward{"a\nb", 80}), "", 0, false},
		{"long address", ssh.Marshal(tcpipForward{strings.Repeat("a", 256), 80}), "", 0, false},
		{"truncated", []byte{0, 0, 0, 9, 'l'}, "", 0, false},
		{"empty", nil, "", 0, false},
	}
	for _, c := range cases {
		addr, port, err := ParseTCPIPForward(c.payload)
		if (err == nil) != c.ok || (c.ok && (addr != c.addr || port != c.port)) {
			t.Errorf("%s: %q %d %v", c.name, addr, port, err)
		}
	}
}

// FuzzParseTCPIPForward: whatever a client sends as a tcpip-forward payload, the parser returns
// a bounded address without control characters and a port within 0..65535, or an error.
func FuzzParseTCPIPForward(f *testing.F) {
	f.Add(ssh.Marshal(tcpipForward{"localhost", 8080}))
	f.Add(ssh.Marshal(tcpipForward{"", 0}))
	f.Add([]byte{0, 0, 0, 1, 0, 0, 0, 0, 80})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, payload []byte) {
		addr, port, err := ParseTCPIPForward(payload)
		if err != nil {
			return
		}
		if len(addr) > maxBindAddress || port < 0 || port > 65535 || strings.ContainsAny(addr, "\x00\n\r") {
			t.Fatalf("accepted %q %d", addr, port)
		}
	})
}
