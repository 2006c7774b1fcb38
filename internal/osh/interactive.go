package osh

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/term"

	"gatehouse/internal/clock"
	"gatehouse/internal/crash"
	"gatehouse/internal/session"
)

// Interactive runs the interactive mode: a prompt where each line is a command (without --osh),
// `ssh [user@]host …` or a host line to connect, `mfa`/`nomfa` for the elevated state, and
// `exit`. It ends after interactiveModeTimeout seconds without input. Returns the exit status.
func (e *Env) Interactive(ctx context.Context, s *Session) int {
	cfg := e.Config()
	// One reader of the input for the whole mode: the line editor and each relay take turns.
	in, ok := s.In.(*session.Input)
	if !ok {
		in = session.NewInput(s.In)
		savedIn := s.In
		s.In = in
		defer func() { s.In = savedIn }()
	}
	rw := struct {
		io.Reader
		io.Writer
	}{&ctrlCClears{r: in}, s.Out}
	t := term.NewTerminal(rw, "")
	if s.Cols > 0 && s.Rows > 0 {
		_ = t.SetSize(s.Cols, s.Rows)
	}
	// The window's size follows the client's changes; relays get them through sz.Resize.
	sz := followSize(s.Resize, s.Cols, s.Rows, t)
	defer sz.stop()
	if s.Resize != nil {
		savedResize := s.Resize
		s.Resize = sz.Resize
		defer func() { s.Resize = savedResize }()
	}
	t.AutoCompleteCallback = e.completer(ctx, s, t, sz)
	if e.History != nil {
		h, err := e.History.Open(s.Account.ID)
		if err != nil {
			e.Log.Warn("cannot read the interactive history", "account", s.Account.Name, "err", err)
		}
		h.Persist = func(line string) bool { return Remember(line, cfg.MaxCommandLine, e.lookupName) }
		t.History = h
	}
	saved := s.Out
	s.Out, s.Editor = t, t
	s.Interactive = true
	defer func() { s.Out, s.Editor = saved, nil; s.Interactive = false }()

	fmt.Fprintf(t, "Welcome to %s interactive mode, type `help' for available commands.\n", cfg.BastionName)
	fmt.Fprintf(t, "You can use <tab> and <tab><tab> for autocompletion.\n")
	if cfg.InteractiveModeTimeout > 0 {
		fmt.Fprintf(t, "You'll be disconnected after %d seconds of inactivity.\n", cfg.InteractiveModeTimeout)
	}
	type lineOrErr struct {
		line string
		err  error
		p    *crash.Panic // the reader (and the completer it calls) panicked
	}
	lines := make(chan lineOrErr, 1)
	for {
		t.SetPrompt(e.prompt(s))
		go func() {
			var got lineOrErr
			// Carried to this session's recovery point, not left to end the process.
			got.p = crash.Catch(func() { got.line, got.err = t.ReadLine() })
			lines <- got
		}()
		var timeout <-chan time.Time
		if cfg.InteractiveModeTimeout > 0 {
			var timer clock.Timer
			timeout, timer = clock.After(clock.Or(e.Clock), time.Duration(cfg.InteractiveModeTimeout)*time.Second)
			defer timer.Stop()
		}
		var got lineOrErr
		select {
		case <-ctx.Done():
			return 0
		case <-timeout:
			fmt.Fprintf(t, "\nIdle timeout of %d seconds reached, goodbye!\n", cfg.InteractiveModeTimeout)
			return 0
		case got = <-lines:
		}
		crash.Rethrow(got.p)
		if got.err != nil {
			return 0
		}
		// The size the window has now: for the box and for the next relay's pty.
		if c, r := sz.size(); c > 0 && r > 0 {
			s.Cols, s.Rows = c, r
		}
		act := ParseInteractiveLine(got.line, cfg.MaxCommandLine, e.lookupName)
		switch act.Kind {
		case ActNothing:
			continue
		case ActError:
			fmt.Fprintf(t, "%s\n", act.Message)
			continue
		}
		if r := e.Recheck(ctx, s); r != nil {
			e.printRefusal(&Printer{W: t, Width: TermWidth(s)}, *r)
			return r.ExitCode()
		}
		switch act.Kind {
		case ActExit:
			return 0
		case ActMFA:
			e.elevate(ctx, s, t)
			continue
		case ActNoMFA:
			s.MFAUntil = time.Time{}
			fmt.Fprintf(t, "Your proactive MFA validation has been forgotten.\n")
			continue
		case ActCommand:
			// `accountList --json` prints its JSON here too, as in The Bastion's interactive mode.
			args, mode, quiet := SplitGlobalOptions(act.Args)
			r := e.Run(ctx, s, act.Command, args, quiet)
			if mode != JSONNone {
				e.emitJSONOnly(s, r, mode)
			}
			continue
		}
		req := act.Request
		if e.Hooks.Connect == nil {
			fmt.Fprintf(t, "Connections to servers are not enabled on this bastion.\n")
			continue
		}
		if r := e.enrolGate(ctx, s, nil); r != nil {
			e.printRefusal(&Printer{W: t, Width: TermWidth(s)}, *r)
			continue
		}
		saveReq := s.Request
		s.Request = req
		sz.relay(true)
		e.connectAtColumn0(ctx, s, t)
		sz.relay(false)
		s.Request = saveReq
	}
}

// lookupName is the registered name of the command w names (following aliases).
func (e *Env) lookupName(w string) (string, bool) {
	if cmd, ok := e.Registry.Lookup(w); ok {
		return cmd.Name, true
	}
	return "", false
}

// connectAtColumn0 connects, then ends the line the server's output left open, so the next
// prompt starts at column 0 (the line editor believes it is there already).
func (e *Env) connectAtColumn0(ctx context.Context, s *Session, t io.Writer) {
	var open atomic.Bool // the last byte relayed, on either stream, was not a newline
	track := func(w io.Writer) io.Writer {
		if w == nil {
			return nil
		}
		return writerFunc(func(p []byte) (int, error) {
			n, err := w.Write(p)
			if n > 0 {
				open.Store(p[n-1] != '\n')
			}
			return n, err
		})
	}
	savedOut, savedErr, savedRawOut, savedRawErr := s.Out, s.Err, s.RawOut, s.RawErr
	s.Out, s.Err, s.RawOut, s.RawErr = track(s.Out), track(s.Err), track(s.RawOut), track(s.RawErr)
	defer func() { s.Out, s.Err, s.RawOut, s.RawErr = savedOut, savedErr, savedRawOut, savedRawErr }()
	e.connect(ctx, s)
	if open.Load() {
		fmt.Fprint(t, "\n")
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// ctrlCClears turns Ctrl-C into "start of line, delete to its end, Enter": at the prompt it
// clears the line and gives a new prompt, as a shell does. x/term's line editor would end the
// session on it (it reports Ctrl-C as io.EOF, as it does Ctrl-D on an empty line).
type ctrlCClears struct {
	r       io.Reader
	pending []byte
}

func (c *ctrlCClears) Read(p []byte) (int, error) {
	if len(c.pending) == 0 {
		buf := make([]byte, len(p))
		n, err := c.r.Read(buf)
		for _, b := range buf[:n] {
			if b == 3 {
				c.pending = append(c.pending, 1, 11, '\r') // ^A, ^K, Enter
			} else {
				c.pending = append(c.pending, b)
			}
		}
		if len(c.pending) == 0 {
			return 0, err
		}
	}
	n := copy(p, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}

// Recheck reloads the account before each line of a long-lived session (the interactive mode,
// batch) and applies the gates of a new connection: a frozen, expired or deleted account (or
// one recreated under the same name: another identity), or a maintenance, ends the session; a
// revoked grant is then refused by Authorize, which reads the reloaded roles. A reload error,
// or a session that cannot reload, ends it too (fail closed).
func (e *Env) Recheck(ctx context.Context, s *Session) *Result {
	if s.Reload == nil {
		r := Refuse("KO_INVALID_ACCOUNT", "Your account cannot be checked again on this bastion; the session ends")
		return &r
	}
	if err := s.Reload(ctx); err != nil {
		r := Refuse("KO_INVALID_ACCOUNT", "Your account can no longer be read on this bastion; the session ends")
		return &r
	}
	if r := e.accountGate(s); r != nil {
		return r
	}
	return e.maintenanceGate(ctx, s)
}

func looksLikeHost(w string) bool {
	return strings.ContainsAny(w, "@.:") && !strings.HasPrefix(w, "-")
}

func (e *Env) elevate(ctx context.Context, s *Session, w io.Writer) {
	cfg := e.Config()
	if !cfg.InteractiveModeProactiveMFAenabled {
		fmt.Fprintf(w, "Proactive MFA is disabled on this bastion.\n")
		return
	}
	if e.Hooks.ProactiveMFA == nil {
		fmt.Fprintf(w, "No second factor is configured on this bastion.\n")
		return
	}
	// The hook prints the phase and, on success, the elevated-session lines.
	if r := e.proactiveMFA(ctx, s); r != nil {
		fmt.Fprintf(w, "%s\n", messageOf(Refused(r)))
	}
}

func (e *Env) prompt(s *Session) string {
	p := fmt.Sprintf("%s@%s(master)", s.Account.Name, e.Config().BastionName)
	if s.MFAValidated(e.Now()) {
		p += "[MFA-OK]"
	}
	return p + "> "
}
