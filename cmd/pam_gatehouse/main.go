// The helper's process: pam_gatehouse.so (module/pam_gatehouse.c, plain C) forks and execs this
// program for each authentication, with a socket on its standard input and output, and runs
// the PAM conversation it asks for. The Go runtime thus lives here, never in sudo's or sshd's
// own process (docs/pam.md, "Why a C module and a Go helper").
package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// The protocol's limits (the C side has the same).
const (
	protoHeader  = "gatehouse-pam 1"
	maxLine      = 2048 // bytes of one line from the helper, LF included (GH_MAX_LINE)
	maxText      = 512  // bytes of a prompt or message (GH_MAX_TEXT)
	maxValue     = 8192 // decoded bytes of one value from the module (GH_MAX_VALUE)
	maxArgs      = 64
	maxFromLine  = 3*maxValue + 32 // an encoded value and its name
	maxQuestions = 32              // GH_MAX_STEPS
)

// hello is what the module tells the helper first.
type hello struct {
	PID                              int
	Service, User, RUser, RHost, TTY string
	Ticket                           string
	Args                             []string
}

// readHello reads the module's opening lines strictly: the header, known fields at most once
// (arg repeated), percent-decoded, then "end". Anything else is an error (a no).
func readHello(r *bufio.Reader) (hello, error) {
	var h hello
	first, err := readLine(r, maxFromLine)
	if err != nil {
		return h, err
	}
	if first != protoHeader {
		return h, fmt.Errorf("not the protocol's header: %q", trunc(first))
	}
	seen := map[string]bool{}
	for {
		l, err := readLine(r, maxFromLine)
		if err != nil {
			return h, err
		}
		if l == "end" {
			break
		}
		name, enc, ok := strings.Cut(l, " ")
		if !ok {
			return h, fmt.Errorf("malformed line %q", trunc(l))
		}
		v, err := decode(enc)
		if err != nil {
			return h, fmt.Errorf("%s: %w", name, err)
		}
		if name != "arg" {
			if seen[name] {
				return h, fmt.Errorf("%s given twice", name)
			}
			seen[name] = true
		}
		switch name {
		case "pid":
			p, err := strconv.Atoi(v)
			if err != nil || p <= 1 || strconv.Itoa(p) != v {
				return h, fmt.Errorf("pid %q", trunc(v))
			}
			h.PID = p
		case "service":
			h.Service = v
		case "user":
			h.User = v
		case "ruser":
			h.RUser = v
		case "rhost":
			h.RHost = v
		case "tty":
			h.TTY = v
		case "ticket":
			h.Ticket = v
		case "arg":
			if len(h.Args) >= maxArgs {
				return h, errors.New("too many arguments")
			}
			h.Args = append(h.Args, v)
		default:
			return h, fmt.Errorf("unknown field %q", trunc(name))
		}
	}
	if h.PID == 0 {
		return h, errors.New("no pid")
	}
	return h, nil
}

func trunc(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// readLine reads one LF-terminated line of at most max bytes (LF excluded); EOF before the LF,
// an over-long line or a NUL byte is an error.
func readLine(r *bufio.Reader, max int) (string, error) {
	var b []byte
	for {
		c, err := r.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return "", io.ErrUnexpectedEOF
			}
			return "", err
		}
		if c == '\n' {
			return string(b), nil
		}
		if c == 0 {
			return "", errors.New("NUL byte in a line")
		}
		if len(b) >= max {
			return "", errors.New("line too long")
		}
		b = append(b, c)
	}
}

// encode percent-encodes what must not travel raw in a line: bytes below 0x20, 0x7f and '%'.
func encode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f || c == '%' {
			fmt.Fprintf(&b, "%%%02X", c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// decode undoes encode strictly: every '%' starts two hex digits, no raw control byte, and at
// most maxValue bytes come out.
func decode(s string) (string, error) {
	var b []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%':
			if i+2 >= len(s) {
				return "", errors.New("truncated %-escape")
			}
			v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
			if err != nil || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return "", errors.New("bad %-escape")
			}
			c = byte(v)
			i += 2
		case c < 0x20 || c == 0x7f:
			return "", errors.New("raw control byte")
		}
		if len(b) >= maxValue {
			return "", errors.New("value too long")
		}
		b = append(b, c)
	}
	return string(b), nil
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// conv is the helper's end of the PAM conversation: it writes questions and messages to the
// module and reads its answers.
type conv struct {
	r     *bufio.Reader
	w     io.Writer
	steps int
}

// send writes one verb and its text, made one printable line that the module's strict parser
// accepts (printable, at most maxText bytes once decoded).
func (c *conv) send(verb, text string) error {
	c.steps++
	if c.steps > maxQuestions {
		return errors.New("too many questions")
	}
	text = printable(text)
	if text == "" {
		text = "gatehouse"
	}
	_, err := io.WriteString(c.w, verb+" "+encode(text)+"\n")
	return err
}

// Say shows a message; errors are ignored (the verdict's write will fail too).
func (c *conv) Say(msg string) { _ = c.send("error", msg) }

// Info shows an informational message.
func (c *conv) Info(msg string) { _ = c.send("info", msg) }

// Prompt asks one question; the module answers "answer VALUE" or "none".
func (c *conv) Prompt(msg string, echo bool) (string, error) {
	verb := "prompt-off"
	if echo {
		verb = "prompt-on"
	}
	if err := c.send(verb, msg); err != nil {
		return "", err
	}
	l, err := readLine(c.r, maxFromLine)
	if err != nil {
		return "", err
	}
	if l == "none" {
		return "", errors.New("the conversation returned nothing")
	}
	enc, ok := strings.CutPrefix(l, "answer ")
	if !ok {
		return "", fmt.Errorf("not an answer: %q", trunc(l))
	}
	return decode(enc)
}

// verdict writes the last line; the caller exits right after (0 only for allow).
func (c *conv) verdict(allow bool) error {
	v := "deny\n"
	if allow {
		v = "allow\n"
	}
	_, err := io.WriteString(c.w, v)
	return err
}

// serve is the helper's whole run over r/w; it returns the exit status (0 only on the
// bastion's yes, said to the module).
func serve(r io.Reader, w io.Writer, proc procInfo) int {
	br := bufio.NewReaderSize(r, 4096)
	c := &conv{r: br, w: w}
	h, err := readHello(br)
	if err != nil {
		_ = c.verdict(false)
		return 1
	}
	e := pamEnv{Service: h.Service, User: h.User, RUser: h.RUser, RHost: h.RHost, TTY: h.TTY, Ticket: h.Ticket,
		Prompt: c.Prompt, Say: c.Say, Info: c.Info}
	p := proc(h.PID)
	if e.Ticket == "" {
		e.Ticket = p.Ticket
	}
	e.Program = p.Program
	if e.Service == "sudo" || e.Program == "sudo" {
		e.Command = p.Cmdline
	}
	ok := authenticate(h.Args, e)
	if err := c.verdict(ok); err != nil || !ok {
		return 1
	}
	return 0
}

func main() {
	os.Exit(serve(os.Stdin, os.Stdout, hostProc))
}
