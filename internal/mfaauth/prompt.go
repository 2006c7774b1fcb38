package mfaauth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
	"unicode/utf8"

	"gatehouse/internal/crash"
	"gatehouse/internal/mfa"
	"gatehouse/internal/session"
)

// Errors of a prompt inside a session; each ends the challenge without access.
var (
	ErrPromptTimeout = errors.New("no answer in time")
	ErrInterrupted   = errors.New("interrupted")
	// ErrNoTerminal refuses to ask a password where it would show as it is typed.
	ErrNoTerminal = errors.New("a password must be typed on a terminal, where it is not shown: reconnect with `ssh -t`")
)

// Out is where a session's MFA phase is printed: the interactive mode's terminal, or standard
// error, next to the connector's "will try the following accesses" lines, so that standard
// output keeps only the command's output and JSON.
func Out(s *session.Session) io.Writer {
	if s.Editor != nil {
		return s.Editor
	}
	return s.Err
}

// Prompt returns a PromptFunc that asks on the session's terminal and reads answers without
// echo. In the interactive mode the terminal's own line editor reads them; otherwise bytes are
// read one at a time from s.In (so that what follows the answer, e.g. a batch's commands, stays
// unread). On a pty the client's terminal is raw: the answer ends at \r or \n, backspace and
// ^U edit it, ^C and ^D abort; without a pty lines end with \n. Answers are cut after
// mfa.DefaultMaxAnswer+1 bytes (the rest of the line is read and dropped), which the
// Challenger refuses as too long.
func (a *Auth) Prompt(s *session.Session, out io.Writer) mfa.PromptFunc {
	if s.Editor != nil {
		return mfa.TerminalPrompt(s.Editor)
	}
	timeout := a.PromptTimeout
	if timeout <= 0 {
		timeout = DefaultPromptTimeout
	}
	return func(ctx context.Context, _, instruction string, questions []string, _ []bool) ([]string, error) {
		if instruction != "" {
			if _, err := fmt.Fprintln(out, instruction); err != nil {
				return nil, err
			}
		}
		answers := make([]string, 0, len(questions))
		for _, q := range questions {
			if _, err := fmt.Fprint(out, q); err != nil {
				return nil, err
			}
			ans, err := readAnswer(ctx, s.In, s.PTY, mfa.DefaultMaxAnswer+1, timeout)
			if s.PTY {
				fmt.Fprintln(out) // the client does not echo: end the prompt's line ourselves
			}
			if err != nil {
				return nil, err
			}
			answers = append(answers, ans)
		}
		return answers, nil
	}
}

// Ask asks one secret question on the session (for the setup commands).
func (a *Auth) Ask(ctx context.Context, s *session.Session, out io.Writer, question string) (string, error) {
	answers, err := a.Prompt(s, out)(ctx, "", "", []string{question}, []bool{false})
	if err != nil {
		return "", err
	}
	return answers[0], nil
}

// AskPassword asks a password on the session (the setup commands), only where it cannot show:
// without a pty the client's terminal echoes what is typed, so it refuses with ErrNoTerminal.
func (a *Auth) AskPassword(ctx context.Context, s *session.Session, out io.Writer, question string) (string, error) {
	if !s.HasTerminal() {
		return "", ErrNoTerminal
	}
	return a.Ask(ctx, s, out, question)
}

// readAnswer reads one line with a deadline. On timeout the reading goroutine stays blocked
// until the channel yields or closes; the challenge is over by then and the session refused.
func readAnswer(ctx context.Context, r io.Reader, pty bool, max int, timeout time.Duration) (string, error) {
	type result struct {
		line string
		err  error
		p    *crash.Panic // carried to the session's recovery point
	}
	done := make(chan result, 1)
	go func() {
		var res result
		res.p = crash.Catch(func() { res.line, res.err = readSecretLine(r, pty, max) })
		done <- res
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case res := <-done:
		crash.Rethrow(res.p)
		return res.line, res.err
	case <-ctx.Done():
		return "", ctx.Err()
	case <-t.C:
		return "", ErrPromptTimeout
	}
}

// readSecretLine reads one line byte by byte, keeping at most max bytes of it.
func readSecretLine(r io.Reader, pty bool, max int) (string, error) {
	var buf []byte
	started := false
	b := make([]byte, 1)
	for {
		n, err := r.Read(b)
		if n == 1 {
			c := b[0]
			switch {
			case pty && c == '\n' && !started:
				// The \n of a \r\n pair that ended the previous answer.
			case c == '\n' || (pty && c == '\r'):
				if !pty && len(buf) > 0 && buf[len(buf)-1] == '\r' {
					buf = buf[:len(buf)-1]
				}
				return string(buf), nil
			case pty && c == 0x03: // ^C
				return "", ErrInterrupted
			case pty && c == 0x04 && len(buf) == 0: // ^D on an empty line
				return "", io.EOF
			case pty && (c == 0x7f || c == 0x08): // backspace: drop the last character
				if len(buf) > 0 {
					_, size := utf8.DecodeLastRune(buf)
					buf = buf[:len(buf)-size]
				}
			case pty && c == 0x15: // ^U
				buf = buf[:0]
			default:
				if len(buf) < max {
					buf = append(buf, c)
				}
			}
			started = true
		}
		if err != nil {
			if errors.Is(err, io.EOF) && !pty && len(buf) > 0 {
				return string(buf), nil // a last line without \n
			}
			return "", err
		}
	}
}
