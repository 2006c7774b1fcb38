package record

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

// decodeJSONString decodes the output of appendJSONString.
func decodeJSONString(t *testing.T, inner []byte) string {
	t.Helper()
	var s string
	if err := json.Unmarshal(append(append([]byte{'"'}, inner...), '"'), &s); err != nil {
		t.Fatalf("appendJSONString produced invalid JSON %q: %v", inner, err)
	}
	return s
}

func TestAppendJSONStringMatchesEncodingJSON(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{"ascii", "hello world"},
		{"controls", "a\x00b\x01\x1b[0m\r\n\t\x7f\"\\"},
		{"multibyte", "héllo wörld ✓ 😀 日本語"},
		{"invalid lone continuation", "a\x80b"},
		{"invalid truncated at end", "ab\xe2\x82"},
		{"invalid surrogate", "\xed\xa0\x80"},
		{"invalid overlong", "\xc0\xaf"},
		{"literal replacement char", "x\uFFFDy"},
		{"line separators", "\u2028\u2029"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := decodeJSONString(t, appendJSONString(nil, []byte(tt.in)))
			// encoding/json also maps each invalid byte to U+FFFD.
			want, _ := json.Marshal(tt.in)
			var wantS string
			json.Unmarshal(want, &wantS)
			if got != wantS {
				t.Errorf("decoded %q, want %q", got, wantS)
			}
		})
	}
}

// randomText returns valid UTF-8 mixing 1- to 4-byte characters and
// terminal control bytes.
func randomText(r *rand.Rand, n int) []byte {
	alphabet := []rune("aZ09 \n\r\t\x1b[m\"\\éßø€✓日本語😀🎉\u2028\x7f")
	var b []byte
	for len(b) < n {
		b = utf8.AppendRune(b, alphabet[r.IntN(len(alphabet))])
	}
	return b
}

// cutRandomly splits p into chunks at random points, including points
// inside multibyte characters and empty chunks.
func cutRandomly(r *rand.Rand, p []byte) [][]byte {
	var chunks [][]byte
	for len(p) > 0 {
		n := r.IntN(min(len(p), 9) + 1)
		chunks = append(chunks, p[:n])
		p = p[n:]
	}
	return chunks
}

func TestUTF8CarryReassemblesAnyCut(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 2000; i++ {
		in := randomText(r, 1+r.IntN(200))
		var c utf8Carry
		var joined [2 * utf8.UTFMax]byte
		var out []byte
		for _, chunk := range cutRandomly(r, in) {
			first, rest := c.split(chunk, &joined)
			if len(first) > 0 && !utf8.Valid(first) {
				t.Fatalf("split emitted a broken character %q from valid input", first)
			}
			if !utf8.Valid(rest) {
				t.Fatalf("split emitted broken UTF-8 %q from valid input", rest)
			}
			out = append(out, first...)
			out = append(out, rest...)
		}
		out = append(out, c.drain()...)
		if !bytes.Equal(out, in) {
			t.Fatalf("reassembled %q, want %q", out, in)
		}
	}
}

func TestUTF8CarryInvalidBytes(t *testing.T) {
	tests := []struct {
		name   string
		chunks []string
		want   string // decoded JSON of all emitted bytes
	}{
		{"split valid 3-byte", []string{"a\xe2", "\x82\xac", "b"}, "a€b"},
		{"split valid 4-byte over three calls", []string{"\xf0\x9f", "\x98", "\x80!"}, "😀!"},
		{"carried prefix then ASCII", []string{"a\xe2\x82", "Xb"}, "a\uFFFD\uFFFDXb"},
		{"carried prefix then new lead byte", []string{"\xe2", "\xc3\xa9"}, "\uFFFDé"},
		{"stream ends mid-character", []string{"ok\xe2\x82"}, "ok\uFFFD\uFFFD"},
		{"invalid lead stays invalid", []string{"\xff", "a"}, "\uFFFDa"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c utf8Carry
			var joined [2 * utf8.UTFMax]byte
			var enc []byte
			for _, ch := range tt.chunks {
				first, rest := c.split([]byte(ch), &joined)
				enc = appendJSONString(enc, first)
				enc = appendJSONString(enc, rest)
			}
			enc = appendJSONString(enc, c.drain())
			if got := decodeJSONString(t, enc); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestANSIStripper(t *testing.T) {
	tests := []struct {
		name   string
		chunks []string
		want   string
	}{
		{"colors", []string{"\x1b[1;31mred\x1b[0m plain\r\n"}, "red plain\n"},
		{"osc title with BEL", []string{"\x1b]0;user@host: ~\x07$ ls\r\n"}, "$ ls\n"},
		{"osc with ST", []string{"\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\"}, "link"},
		{"split CSI", []string{"a\x1b", "[3", "8;5;1", "2mb"}, "ab"},
		{"charset designation", []string{"\x1b(Bx\x1b)0y"}, "xy"},
		{"keypad mode and DCS", []string{"\x1b=\x1bPq#0;2;0\x1b\\z"}, "z"},
		{"controls dropped", []string{"a\x07\x08b\tc"}, "ab\tc"},
		{"utf8 kept", []string{"wörld ✓\n"}, "wörld ✓\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s ansiStripper
			var out []byte
			for _, ch := range tt.chunks {
				out = s.strip(out, []byte(ch))
			}
			if string(out) != tt.want {
				t.Errorf("got %q, want %q", out, tt.want)
			}
		})
	}
}

func TestStripperNeverPassesESC(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 200; i++ {
		in := randomText(r, 500)
		var s ansiStripper
		var out []byte
		for _, ch := range cutRandomly(r, in) {
			out = s.strip(out, ch)
		}
		if bytes.ContainsAny(out, "\x1b\r\x7f") {
			t.Fatalf("stripped text still has ESC/CR/DEL: %q", out)
		}
		if strings.Count(string(out), "\n") > strings.Count(string(in), "\n") {
			t.Fatalf("stripper invented newlines")
		}
	}
}

func TestNeedsEscape8MatchesTable(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	check := func(b [8]byte) {
		want := false
		for _, c := range b {
			want = want || (c < 0x80 && !jsonSafe[c])
		}
		if got := needsEscape8(binary.LittleEndian.Uint64(b[:])); got != want {
			t.Fatalf("needsEscape8(%q) = %v, want %v", b, got, want)
		}
	}
	for c := 0; c < 256; c++ {
		for pos := 0; pos < 8; pos++ {
			b := [8]byte{'a', 'b', 0xc3, 0xa9, 'c', 'd', 'e', 'f'}
			b[pos] = byte(c)
			check(b)
		}
	}
	for i := 0; i < 100000; i++ {
		var b [8]byte
		for j := range b {
			b[j] = byte(r.IntN(256))
		}
		check(b)
	}
}
