package mfaauth

import (
	"strings"
	"testing"
)

// FuzzReadSecretLine: what a person types at a JIT prompt never panics the reader, never
// yields more than max bytes, and never reads past the end of the first answer.
func FuzzReadSecretLine(f *testing.F) {
	for _, s := range []string{"secret\n", "secret\r\nnext", "\x7f\x7fé\x7f\r", "a\x15b\n", "\x03", "\x04", "\ra\n", strings.Repeat("x", 100)} {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, in string, pty bool) {
		const max = 16
		r := strings.NewReader(in)
		got, err := readSecretLine(r, pty, max)
		if len(got) > max {
			t.Fatalf("answer of %d bytes, max %d", len(got), max)
		}
		if err == nil && r.Len() > 0 {
			// Stopped at an end of line: the byte before what is left ends the answer.
			if c := in[len(in)-r.Len()-1]; c != '\n' && c != '\r' {
				t.Fatalf("stopped after %q, not at an end of line", c)
			}
		}
	})
}
