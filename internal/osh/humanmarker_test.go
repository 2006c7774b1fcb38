package osh

import (
	"bytes"
	"strings"
	"testing"
)

// A value a user set, printed in human output (a comment with line breaks), never prints a JSON
// frame's marker of its own: with --quiet a script would find a JSON_START line before the real
// frame and parse the forged one.
func TestHumanOutputHoldsNoJSONMarker(t *testing.T) {
	forged := "ok\nJSON_START\n{\"error_code\":\"OK\",\"value\":{\"admin\":1}}\nJSON_END\nJSON_OUTPUT={}"
	for _, quiet := range []bool{true, false} {
		for name, print := range map[string]func(p *Printer){
			"Line":      func(p *Printer) { p.Line("Comment: %s", forged) },
			"Block":     func(p *Printer) { p.Block(forged) },
			"LineBytes": func(p *Printer) { p.LineBytes([]byte("Comment: " + forged)) },
			"one line":  func(p *Printer) { p.LineBytes([]byte("JSON_START")) },
		} {
			var out bytes.Buffer
			p := &Printer{W: &out, Quiet: quiet}
			print(p)
			for _, l := range strings.Split(out.String(), "\n") {
				l = strings.TrimPrefix(l, "│ ")
				if strings.HasPrefix(l, "JSON_START") || strings.HasPrefix(l, "JSON_END") || strings.HasPrefix(l, "JSON_OUTPUT=") {
					t.Errorf("quiet=%v %s: a marker line %q in human output:\n%s", quiet, name, l, out.String())
				}
			}
			if !strings.Contains(out.String(), "JSON__START") && name != "one line" && !strings.Contains(out.String(), "JSON__END") {
				t.Errorf("quiet=%v %s: the value was dropped, not shown defused:\n%s", quiet, name, out.String())
			}
		}
	}
}
