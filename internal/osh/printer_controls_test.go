package osh

import (
	"bytes"
	"strings"
	"testing"
)

// TestPrinterNeutralisesControls: a value someone else set, printed in human output, must not
// act on the reader's terminal. Every C0 control but tab, DEL, every C1 control and every byte
// that is not UTF-8 is written as text, by Line and LineBytes, boxed and quiet; the bastion's
// own Block (the QR code's colours) is printed as it is.
func TestPrinterNeutralisesControls(t *testing.T) {
	var hostile []string
	for c := 0; c < 0x20; c++ {
		if c != '\t' && c != '\n' {
			hostile = append(hostile, "a"+string(rune(c))+"b")
		}
	}
	hostile = append(hostile, "a\x7fb", "a\u009bb", "a\u0085b", "a\x9bb", "a\xffb", "\x1b]52;c;ZXZpbA==\x07", "\x1b[2J\x1b[H fake")
	for _, quiet := range []bool{false, true} {
		for _, h := range hostile {
			for _, via := range []string{"Line", "LineBytes"} {
				var out bytes.Buffer
				p := &Printer{W: &out, Quiet: quiet}
				if via == "Line" {
					p.Line("comment: %s", h)
				} else {
					p.LineBytes([]byte("comment: " + h))
				}
				got := out.String()
				if strings.ContainsAny(got, "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\x7f\u0080\u0085\u009b") ||
					strings.Count(got, "\n") != 1 || !bytes.Contains(out.Bytes(), []byte("comment: ")) || strings.ContainsRune(got, '\uFFFD') && !strings.Contains(h, "\uFFFD") {
					t.Errorf("quiet %v %s(%q) printed %q", quiet, via, h, got)
				}
				for _, r := range got { // every hostile value here is ASCII once made visible
					if r >= 0x80 && r != '│' {
						t.Errorf("quiet %v %s(%q): %U in %q", quiet, via, h, r, got)
						break
					}
				}
			}
		}
	}
	// Text without controls is printed as it is; tabs, wide and combining characters too.
	for _, s := range []string{"plain", "tab\there", "日本語 é e\u0301 \U0001F600", "\uFFFD"} {
		var out bytes.Buffer
		(&Printer{W: &out, Quiet: true}).Line("%s", s)
		if out.String() != s+"\n" {
			t.Errorf("%q printed %q", s, out.String())
		}
	}
	var out bytes.Buffer
	(&Printer{W: &out, Quiet: true}).Block("\x1b[30;107m  \x1b[0m")
	if out.String() != "\x1b[30;107m  \x1b[0m\n" {
		t.Errorf("Block changed the bastion's own colours: %q", out.String())
	}
}

// BenchmarkPrinterLineBytes: a listing's line (issue 14's 10,000 accounts), boxed.
func BenchmarkPrinterLineBytes(b *testing.B) {
	var out bytes.Buffer
	p := &Printer{W: &out}
	line := []byte("alice-the-account-0042           2026-12-02 23:59:59  admin   active")
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		out.Reset()
		p.LineBytes(line)
	}
}
