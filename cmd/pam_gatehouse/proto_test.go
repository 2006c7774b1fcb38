package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"gatehouse/internal/testenv"
)

func TestReadHello(t *testing.T) {
	ok := "gatehouse-pam 1\npid 42\nservice sudo\nuser ubuntu\nticket gt1.a.b\narg url=https://b\narg x=50%25\nend\n"
	h, err := readHello(bufioReader(ok))
	if err != nil {
		t.Fatal(err)
	}
	if h.PID != 42 || h.Service != "sudo" || h.User != "ubuntu" || h.Ticket != "gt1.a.b" || len(h.Args) != 2 || h.Args[1] != "x=50%" {
		t.Fatalf("%+v", h)
	}
	for _, c := range []struct{ name, in string }{
		{"empty", ""},
		{"no header", "pid 42\nend\n"},
		{"other version", "gatehouse-pam 2\npid 42\nend\n"},
		{"no end", "gatehouse-pam 1\npid 42\n"},
		{"no pid", "gatehouse-pam 1\nend\n"},
		{"pid 1", "gatehouse-pam 1\npid 1\nend\n"},
		{"pid not a number", "gatehouse-pam 1\npid 4a\nend\n"},
		{"pid with a sign", "gatehouse-pam 1\npid +42\nend\n"},
		{"pid twice", "gatehouse-pam 1\npid 42\npid 43\nend\n"},
		{"ticket twice", "gatehouse-pam 1\npid 42\nticket a\nticket b\nend\n"},
		{"unknown field", "gatehouse-pam 1\npid 42\nadmin yes\nend\n"},
		{"no value", "gatehouse-pam 1\npid 42\nuser\nend\n"},
		{"bad escape", "gatehouse-pam 1\npid 42\nuser a%zz\nend\n"},
		{"truncated escape", "gatehouse-pam 1\npid 42\nuser a%4\nend\n"},
		{"raw control byte", "gatehouse-pam 1\npid 42\nuser a\rb\nend\n"},
		{"NUL", "gatehouse-pam 1\npid 42\nuser a\x00b\nend\n"},
		{"over-long line", "gatehouse-pam 1\npid 42\nuser " + strings.Repeat("a", maxFromLine) + "\nend\n"},
		{"over-long value", "gatehouse-pam 1\npid 42\nuser " + strings.Repeat("%41", maxValue+1) + "\nend\n"},
		{"too many args", "gatehouse-pam 1\npid 42\n" + strings.Repeat("arg a=b\n", maxArgs+1) + "end\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if h, err := readHello(bufioReader(c.in)); err == nil {
				t.Fatalf("accepted: %+v", h)
			}
		})
	}
}

// TestConvPrompt: the helper's side of a question; anything but "answer VALUE" is no answer.
func TestConvPrompt(t *testing.T) {
	for _, c := range []struct {
		name, reply, want string
		ok                bool
	}{
		{"answer", "answer 123456\n", "123456", true},
		{"encoded answer", "answer a%25b%0Ac\n", "a%b\nc", true},
		{"empty answer", "answer \n", "", true},
		{"none", "none\n", "", false},
		{"EOF", "", "", false},
		{"no LF", "answer 1", "", false},
		{"garbage", "allow\n", "", false},
		{"bad escape", "answer %%\n", "", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			var w bytes.Buffer
			cv := &conv{r: bufioReader(c.reply), w: &w}
			got, err := cv.Prompt("Code: ", false)
			if (err == nil) != c.ok || got != c.want {
				t.Fatalf("got %q, %v", got, err)
			}
			if w.String() != "prompt-off Code: \n" {
				t.Fatalf("sent %q", w.String())
			}
		})
	}
	// Questions are bounded (the module refuses more anyway).
	var w bytes.Buffer
	cv := &conv{r: bufioReader(strings.Repeat("answer x\n", maxQuestions+1)), w: &w}
	var err error
	for range maxQuestions + 1 {
		_, err = cv.Prompt("q", true)
	}
	if err == nil {
		t.Fatal("no limit on questions")
	}
}

// TestServe runs the helper's whole loop against a stand-in module: a bad hello is a deny
// with status 1, before anything else.
func TestServe(t *testing.T) {
	var out bytes.Buffer
	if st := serve(strings.NewReader("hello\n"), &out, func(int) hostInfo { return hostInfo{} }); st != 1 || out.String() != "deny\n" {
		t.Fatalf("status %d, wrote %q", st, out.String())
	}
	// A valid hello with a configuration that cannot work (no url): an error shown, then deny.
	out.Reset()
	st := serve(strings.NewReader("gatehouse-pam 1\npid 42\nservice sudo\narg config=none\nend\n"), &out, func(int) hostInfo { return hostInfo{} })
	if st != 1 || !strings.HasPrefix(out.String(), "error gatehouse: configuration") || !strings.HasSuffix(out.String(), "\ndeny\n") {
		t.Fatalf("status %d, wrote %q", st, out.String())
	}
}

func FuzzReadHello(f *testing.F) {
	f.Add("gatehouse-pam 1\npid 42\nservice sudo\nuser ubuntu\nticket gt1.a.b\narg url=https://b\nend\n")
	f.Add("gatehouse-pam 1\npid 42\nuser a%0Ab\nend\n")
	f.Add("gatehouse-pam 1\npid 42\nuser a%4\nend\n")
	f.Add("gatehouse-pam 1\n")
	f.Fuzz(func(t *testing.T, in string) {
		h, err := readHello(bufioReader(in))
		if err != nil {
			return
		}
		if h.PID <= 1 || len(h.Args) > maxArgs {
			t.Fatalf("accepted %+v", h)
		}
		// What was accepted encodes back to lines the parser reads the same.
		var b strings.Builder
		fmt.Fprintf(&b, "%s\npid %d\n", protoHeader, h.PID)
		for _, kv := range [][2]string{{"service", h.Service}, {"user", h.User}, {"ruser", h.RUser}, {"rhost", h.RHost}, {"tty", h.TTY}, {"ticket", h.Ticket}} {
			fmt.Fprintf(&b, "%s %s\n", kv[0], encode(kv[1]))
		}
		for _, a := range h.Args {
			fmt.Fprintf(&b, "arg %s\n", encode(a))
		}
		b.WriteString("end\n")
		h2, err := readHello(bufioReader(b.String()))
		if err != nil || fmt.Sprint(h2) != fmt.Sprint(h) {
			t.Fatalf("round trip: %+v → %+v, %v", h, h2, err)
		}
	})
}

// The C module's parser of the helper's lines (gh_parse), and its reference model in Go.
const (
	kindBad = iota
	kindPromptOff
	kindPromptOn
	kindInfo
	kindError
	kindAllow
	kindDeny
)

// parseHelperLine is the protocol's definition of one line from the helper (its LF removed),
// which the C parser must follow exactly.
func parseHelperLine(line []byte) (int, string) {
	switch string(line) {
	case "allow":
		return kindAllow, ""
	case "deny":
		return kindDeny, ""
	}
	verb, rest, ok := bytes.Cut(line, []byte(" "))
	kinds := map[string]int{"prompt-off": kindPromptOff, "prompt-on": kindPromptOn, "info": kindInfo, "error": kindError}
	kind, known := kinds[string(verb)]
	if !ok || !known || len(rest) == 0 {
		return kindBad, ""
	}
	var out []byte
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		if c == '%' {
			if i+2 >= len(rest) || !isHex(rest[i+1]) || !isHex(rest[i+2]) {
				return kindBad, ""
			}
			fmt.Sscanf(string(rest[i+1:i+3]), "%02x", &c)
			i += 2
		}
		if c < 0x20 || c == 0x7f || len(out) >= maxText {
			return kindBad, ""
		}
		out = append(out, c)
	}
	return kind, string(out)
}

// cParser is a small C program around the module's own gh_parse (built once, with ASan and
// UBSan), run once per line: a fresh process per input keeps the fuzz worker's state simple.
type cParser struct{ bin string }

var (
	cParserOnce sync.Once
	cParserInst *cParser
	cParserErr  error
)

const parseDriver = `#include "pam_gatehouse.c"
int main(void) {
	static char line[1 << 16], text[GH_MAX_TEXT + 1];
	size_t n = fread(line, 1, sizeof line, stdin);
	int k = gh_parse(line, n, text, sizeof text);
	size_t tl = strlen(text);
	printf("%d %zu\n", k, tl);
	fwrite(text, 1, tl, stdout);
	return 0;
}
`

func startCParser(t testing.TB) *cParser {
	t.Helper()
	cParserOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ghparse")
		if err != nil {
			cParserErr = err
			return
		}
		src, _ := filepath.Abs("module")
		if err := os.WriteFile(filepath.Join(dir, "driver.c"), []byte(parseDriver), 0o644); err != nil {
			cParserErr = err
			return
		}
		bin := filepath.Join(dir, "driver")
		if out, err := exec.Command("cc", "-O1", "-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-I", src, "-o", bin, filepath.Join(dir, "driver.c"), "-lpam").CombinedOutput(); err != nil {
			cParserErr = fmt.Errorf("cc: %v\n%s", err, out)
			return
		}
		cParserInst = &cParser{bin: bin}
	})
	if cParserErr != nil {
		if _, err := exec.LookPath("cc"); err != nil {
			testenv.Need(t, "needs cc and libpam0g-dev")
		}
		t.Fatal(cParserErr)
	}
	return cParserInst
}

func (p *cParser) parse(t testing.TB, line []byte) (int, string) {
	cmd := exec.Command(p.bin)
	cmd.Stdin = bytes.NewReader(line)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("the C parser failed on %q: %v\n%s", line, err, stderr.String())
	}
	hdr, text, _ := bytes.Cut(out, []byte("\n"))
	var kind, tl int
	if _, err := fmt.Sscanf(string(hdr), "%d %d", &kind, &tl); err != nil || tl != len(text) {
		t.Fatalf("the C parser wrote %q", out)
	}
	return kind, string(text)
}

var helperLineSeeds = []string{
	"allow", "deny", "allow ", "Allow", "deny\r", "prompt-off Code: ", "prompt-on Gatehouse account: ",
	"info waiting%25", "error no", "info ", "info", "prompt-off %", "prompt-off %4", "prompt-off %41",
	"prompt-off %1B[2J", "prompt-off \x1b[2J", "info \x7f", "info caf\xc3\xa9", "exec /bin/sh", "",
	"info " + strings.Repeat("a", 512), "info " + strings.Repeat("a", 513), "info a\x00b", "info %00",
}

// TestCParserMatchesModel checks the C parser against the model on the seeds.
func TestCParserMatchesModel(t *testing.T) {
	need(t)
	p := startCParser(t)
	for _, s := range helperLineSeeds {
		wk, wt := parseHelperLine([]byte(s))
		gk, gt := p.parse(t, []byte(s))
		if gk != wk || gt != wt {
			t.Errorf("%q: C says %d %q, the model %d %q", s, gk, gt, wk, wt)
		}
	}
}

// FuzzCParser: the C module's parser of the helper's lines (built with ASan and UBSan) agrees
// with the model on any line, and never accepts a control byte or an over-long text.
func FuzzCParser(f *testing.F) {
	for _, s := range helperLineSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		if len(line) > maxLine {
			return // the reader refuses these before parsing
		}
		p := startCParser(t)
		wk, wt := parseHelperLine(line)
		gk, gt := p.parse(t, line)
		if gk != wk || gt != wt {
			t.Fatalf("%q: C says %d %q, the model %d %q", line, gk, gt, wk, wt)
		}
		if len(gt) > maxText || strings.ContainsFunc(gt, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			t.Fatalf("accepted %q", gt)
		}
	})
}

// FuzzEncodeDecode: what the helper encodes decodes back, and every encoded line is one line.
func FuzzEncodeDecode(f *testing.F) {
	f.Add("a%b\nc\x00\x7f")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > maxValue {
			return
		}
		e := encode(s)
		if strings.ContainsAny(e, "\n\r\x00") {
			t.Fatalf("encoded %q has a line break", e)
		}
		d, err := decode(e)
		if err != nil || d != s {
			t.Fatalf("%q → %q → %q, %v", s, e, d, err)
		}
	})
}
