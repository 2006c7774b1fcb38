package osh

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"gatehouse/internal/mfa/totp"
)

func TestDisplayWidth(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want int
	}{
		{"", 0},
		{"abc", 3},
		{"é", 1},                     // precomposed
		{"e\u0301", 1},               // e + combining acute
		{"▀▄█ ", 4},                  // QR half blocks: 3 bytes, 1 column each
		{"\x1b[30;107m▀▀\x1b[0m", 2}, // colours take no column
		{"日本語", 6},
		{"한글", 4},
		{"ＡＢ", 4}, // fullwidth forms
		{"😀", 2},
		{"👍\u200d", 2}, // zero-width joiner
		{"a\tb", 2},    // a control character takes none
		{"\x1b[", 0},   // an escape cut short
		{"│ ", 2},
		{"\xff", 1}, // invalid UTF-8: one replacement column
	} {
		if got := DisplayWidth(tc.s); got != tc.want {
			t.Errorf("DisplayWidth(%q) = %d, want %d", tc.s, got, tc.want)
		}
	}
}

// boxLines prints lines through a Printer and returns what it wrote, split in lines.
func boxLines(t *testing.T, quiet bool, print func(p *Printer)) []string {
	t.Helper()
	var b bytes.Buffer
	p := &Printer{W: &b, Quiet: quiet}
	p.Header("gatehouse", "0.1.0", "a title")
	print(p)
	p.Footer("cmd")
	return strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
}

// TestBoxHoldsItsContent: whatever is printed (wide lines, CJK, a QR code in half blocks or in
// ASCII, scratch codes), every line between the top and the bottom keeps the left border, and
// the bottom rule is at least as wide as the widest line; with --quiet nothing is added.
func TestBoxHoldsItsContent(t *testing.T) {
	qrHalf, err := totp.RenderQR("otpauth://totp/gatehouse:alice@gatehouse?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=gatehouse", totp.QRHalfBlocks)
	if err != nil {
		t.Fatal(err)
	}
	qrASCII, _ := totp.RenderQR("otpauth://totp/gatehouse:alice@gatehouse?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=gatehouse", totp.QRASCII)
	for _, tc := range []struct {
		name  string
		print func(p *Printer)
	}{
		{"short", func(p *Printer) { p.Line("hello") }},
		{"wide line", func(p *Printer) { p.Line("%s", strings.Repeat("x", 140)) }},
		{"cjk", func(p *Printer) { p.Line("%s", strings.Repeat("日本", 30)) }},
		{"qr half blocks", func(p *Printer) { p.Block(qrHalf) }},
		{"qr ascii", func(p *Printer) { p.Block(qrASCII) }},
		{"scratch codes", func(p *Printer) {
			p.Block(totp.ScratchCodesHeader)
			for _, c := range []string{"12345678", "23456789"} {
				p.Block("  " + c)
			}
		}},
		{"multi-line Line", func(p *Printer) { p.Line("one\ntwo\n") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lines := boxLines(t, false, tc.print)
			if !strings.HasPrefix(lines[0], "╭") || !strings.HasPrefix(lines[len(lines)-1], "╰") {
				t.Fatalf("no top or bottom:\n%s", strings.Join(lines, "\n"))
			}
			widest := 0
			for _, l := range lines[1 : len(lines)-1] {
				if !strings.HasPrefix(l, "│") && !strings.HasPrefix(l, "├") {
					t.Errorf("a line outside the box: %q", l)
				}
				widest = max(widest, DisplayWidth(l))
			}
			if bottom := DisplayWidth(lines[len(lines)-1]); bottom < widest || bottom < boxWidth {
				t.Errorf("bottom rule %d columns, content up to %d", bottom, widest)
			}
			if w := DisplayWidth(lines[len(lines)-1]); utf8.RuneCountInString(lines[len(lines)-1]) != w {
				t.Errorf("the bottom rule is not one column per rune")
			}
			quiet := boxLines(t, true, tc.print)
			for _, l := range quiet {
				if strings.HasPrefix(l, "│") || strings.HasPrefix(l, "╰") {
					t.Errorf("--quiet drew the box: %q", l)
				}
			}
		})
	}
}

// FuzzDisplayWidth: any bytes measure between 0 and two columns per rune, and escape
// sequences never count.
func FuzzDisplayWidth(f *testing.F) {
	for _, s := range []string{"", "abc", "日本", "\x1b[30;107m▀\x1b[0m", "e\u0301", "\x1b", "\x1b[", "\xff\xfe", "😀\u200d😀"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		w := DisplayWidth(s)
		if w < 0 || w > 2*utf8.RuneCountInString(s) {
			t.Fatalf("DisplayWidth(%q) = %d", s, w)
		}
		if DisplayWidth("\x1b[1m"+s) != w {
			t.Fatalf("an escape sequence counted: %q", s)
		}
	})
}

// TestBoxRulesFitTheTerminal: on a terminal, the rules the box draws itself (top, title rule,
// bottom) are never wider than the terminal, whatever is inside (a line wider than it, CJK,
// escape sequences) and whatever the bastion's name: a rule the terminal wraps draws a stray
// line of dashes. Content lines are printed as they are.
func TestBoxRulesFitTheTerminal(t *testing.T) {
	contents := map[string]string{
		"wide line": strings.Repeat("x", 140),
		"cjk":       strings.Repeat("日本", 60),
		"escapes":   strings.Repeat("\x1b[30;107m▀▄\x1b[0m", 70),
		"short":     "ok",
	}
	for _, width := range []int{0, 20, 40, 74, 75, 76, 100, 200} {
		for _, name := range []string{"gatehouse", "数据库堡垒机", strings.Repeat("b", 90)} {
			for what, content := range contents {
				var b bytes.Buffer
				p := &Printer{W: &b, Width: width}
				p.Header(name, "0.1.0", "a title")
				p.Line("%s", content)
				p.Footer("someCommand")
				lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
				for _, l := range []string{lines[0], lines[2], lines[len(lines)-1]} {
					if !strings.ContainsAny(l[:3], "╭├╰") {
						t.Fatalf("width %d %s: not a rule: %q", width, what, l)
					}
					if width > 0 && DisplayWidth(l) > width && !strings.HasPrefix(l, "╭──"+name) {
						t.Errorf("width %d, %s, name %q: rule of %d columns: %q", width, what, name, DisplayWidth(l), l)
					}
				}
				if bottom := DisplayWidth(lines[len(lines)-1]); width == 0 && bottom < DisplayWidth(lines[3]) {
					t.Errorf("no terminal, %s: bottom rule %d narrower than the content", what, bottom)
				}
			}
		}
	}
}
