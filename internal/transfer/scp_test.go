package transfer

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

func sum(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }

// TestSCPStreams: each file of a legacy scp stream is one event with its path (directories
// entered and name), size and SHA-256, whatever the chunking; what cannot be followed is refused.
func TestSCPStreams(t *testing.T) {
	long := strings.Repeat("n", 64*1024)
	cases := []struct {
		name    string
		upload  bool
		stream  string
		events  []string // op:path:bytes:sha
		refused bool
	}{
		{"one file up", true, "C0644 5 a.txt\nhello\x00", []string{"file:a.txt:5:" + sum("hello")}, false},
		{"one file down", false, "C0600 3 shadow\nabc\x00", []string{"file:shadow:3:" + sum("abc")}, false},
		{"times and empty file", true, "T1 0 2 0\nC0644 0 empty\n\x00", []string{"file:empty:0:" + sum("")}, false},
		{"recursive", true, "D0755 0 d\nC0644 2 x\nxy\x00D0755 0 e\nC0644 1 y\nz\x00E\nE\nC0644 1 top\nq\x00",
			[]string{"dir:d::", "file:d/x:2:" + sum("xy"), "dir:d/e::", "file:d/e/y:1:" + sum("z"), "file:top:1:" + sum("q")}, false},
		{"data holding newlines and C lines", true, "C0644 12 f\nC0644 1 x\n\n\x00",
			[]string{"file:f:12:" + sum("C0644 1 x\n\n\x00")}, false},
		{"error from the target", false, "\x01scp: /etc/x: Permission denied\n", []string{"error:/srv/arg::"}, false},
		{"cut inside a file", true, "C0644 10 cut\nabc", []string{"file:cut:3:"}, false},
		// refused
		{"dotdot", true, "C0644 1 ..\nx\x00", nil, true},
		{"slash", true, "C0644 1 ../../etc/passwd\nx\x00", nil, true},
		{"nul in name", true, "C0644 1 a\x00b\nx\x00", nil, true},
		{"64 kB name", true, "C0644 1 " + long + "\nx\x00", nil, true},
		{"negative size", true, "C0644 -1 a\n", nil, true},
		{"size not a number", true, "C0644 1e9 a\n", nil, true},
		{"huge size", true, "C0644 99999999999999999999 a\n", nil, true},
		{"lying size: more bytes than said", true, "C0644 1 a\nxyz\x00", []string{"file:a:1:" + sum("x")}, true},
		{"unknown control", true, "X0644 1 a\n", nil, true},
		{"E without D", true, "E\n", nil, true},
		{"bad mode", true, "C644 1 a\nx\x00", nil, true},
	}
	for _, c := range cases {
		for _, chunk := range []int{1, 3, 1 << 20} {
			var got []string
			p := NewSCP(c.upload, "/srv/arg", func(ev Event) {
				n, h := ev.BytesWritten, ev.SHA256Write
				if !c.upload {
					n, h = ev.BytesRead, ev.SHA256Read
				}
				switch ev.Op {
				case "refused":
					return
				case "dir", "error":
					got = append(got, ev.Op+":"+ev.Path+"::")
				default:
					got = append(got, strings.Join([]string{ev.Op, ev.Path, itoa(n), h}, ":"))
				}
			})
			var err error
			for s := c.stream; len(s) > 0 && err == nil; {
				k := min(chunk, len(s))
				err = p.Bytes([]byte(s[:k]))
				s = s[k:]
			}
			p.Close()
			if (err != nil) != c.refused {
				t.Errorf("%s (chunk %d): err %v, want refused=%v", c.name, chunk, err, c.refused)
			}
			if strings.Join(got, "|") != strings.Join(c.events, "|") {
				t.Errorf("%s (chunk %d): events\n %v\nwant\n %v", c.name, chunk, got, c.events)
			}
		}
	}
}

func itoa(n int64) string { return strings.TrimSpace(strings.Repeat(" ", 0) + formatInt(n)) }

func formatInt(n int64) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// FuzzSCP: any stream, in any chunking, never panics; once refused it stays refused; every file
// event's path is relative, without "..", NUL or an empty part.
func FuzzSCP(f *testing.F) {
	for _, s := range []string{"C0644 5 a.txt\nhello\x00", "D0755 0 d\nC0644 1 x\ny\x00E\n", "\x02err\n", "C0644 1 ..\nx", "T1 0 1 0\n"} {
		f.Add([]byte(s), uint8(3))
	}
	f.Fuzz(func(t *testing.T, stream []byte, chunk uint8) {
		k := int(chunk%64) + 1
		p := NewSCP(true, "/x", func(ev Event) {
			if ev.Op == "file" || ev.Op == "dir" {
				if strings.HasPrefix(ev.Path, "/") || strings.Contains(ev.Path, "\x00") {
					t.Fatalf("bad path %q", ev.Path)
				}
				for _, part := range strings.Split(ev.Path, "/") {
					if part == ".." || part == "" {
						t.Fatalf("bad path %q", ev.Path)
					}
				}
			}
		})
		var refused bool
		for len(stream) > 0 {
			n := min(k, len(stream))
			err := p.Bytes(stream[:n])
			if refused && err == nil {
				t.Fatal("a refused stream was accepted again")
			}
			refused = refused || err != nil
			stream = stream[n:]
		}
		p.Close()
	})
}

func TestSCPArg(t *testing.T) {
	for cmd, want := range map[string]string{"scp -t /tmp/x": "/tmp/x", "scp -v -r -t -- /a b": "/a", "scp -f '/x y'": "'/x", "scp -f /x; id": "/x;", "scp": ""} {
		if got := SCPArg(cmd); got != want && !(cmd == "scp -f '/x y'" && got == "/x") {
			t.Errorf("SCPArg(%q) = %q, want %q", cmd, got, want)
		}
	}
}
