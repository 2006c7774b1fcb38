// Package osh is gatehouse's command language: The Bastion's line grammar (grammar.go), its
// commands and who may run them (registry.go, roles.go), and its output, human and JSON
// (output.go). It decides and prints; it never touches the network. Commands live in
// internal/osh/cmd/<category>/, the folder naming who may run them.
//
// The path of one line, as osh.pl's:
//
//	account gate (frozen, TTL, inactivity) → parse → MFA setup gate → one of:
//	  --osh CMD: lookup → authorize → JIT MFA → parse options → run → output
//	  -i or nothing: the interactive mode (each line goes through the same path)
//	  [user@]host: the Connect hook (access check, JIT MFA, egress)
//
// Every refusal before a command runs has command null in JSON and The Bastion's exit status.
package osh

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"gatehouse/internal/access"
	"gatehouse/internal/audit"
	"gatehouse/internal/clock"
	"gatehouse/internal/config"
	"gatehouse/internal/crash"
	"gatehouse/internal/extvalid"
	"gatehouse/internal/history"
	"gatehouse/internal/refusal"
	"gatehouse/internal/seal"
	"gatehouse/internal/session"
	"gatehouse/internal/store"
)

// Env is what commands share for the life of the server.
type Env struct {
	Store    store.Store
	Sealer   *seal.Sealer
	Config   func() *config.Config // the current configuration (it may be reloaded)
	Registry *Registry
	Version  string
	Now      func() time.Time // Clock.Now
	Log      *slog.Logger
	Hooks    Hooks
	// SessionLocks locks and unlocks an account's relayed sessions (lock/unlock); may be nil.
	SessionLocks interface {
		Set(account string, locked bool) int
	}
	// Running ends the running sessions of an account identity (freeze, delete) with a reason
	// and an exit status, and returns their ids; may be nil.
	Running interface {
		End(accountID, reason string, exit int) []string
	}
	// Archived opens a session's recording from the archive bucket when it is not on this
	// node's disk (checked against the audited SHA-256); nil without [archive].
	Archived func(ctx context.Context, s store.Session) (*os.File, error)
	// JumpCA is the public key line of ProxyJump's host CA (selfSshConfig); nil: none.
	JumpCA func() string
	// History keeps the interactive mode's history per account; nil: for the session only.
	History *history.Dir
	// Clock is the server's clock (app.Options.Clock), for the timers of the path (the
	// interactive mode's timeout); nil: the system clock.
	Clock clock.Clock
	// AppendAudit appends a typed security event to the audit log (never with a secret); a
	// non-nil error means it is not in the log: refuse what has not happened yet. nil: nothing
	// is audited.
	AppendAudit audit.AppendFunc
	// KeyGen bounds the key pairs commands generate at once (a slot is a buffered send; nil: no
	// bound). An RSA 8192 key costs 15–40 s of CPU and cannot be stopped once started: any
	// account (selfGenerateEgressKey is an open command) could start ten per connection,
	// disconnect and start ten more, and the CPU stayed busy long after they were gone.
	KeyGen chan struct{}
}

// KeyGenSlot waits for a slot of KeyGen, or for ctx (the client gone); release gives it back.
func (e *Env) KeyGenSlot(ctx context.Context) (release func(), err error) {
	if e.KeyGen == nil {
		return func() {}, nil
	}
	select {
	case e.KeyGen <- struct{}{}:
		return func() { <-e.KeyGen }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// AuditEvent appends ev through AppendAudit (nothing without it).
func (e *Env) AuditEvent(ctx context.Context, ev audit.Event) error {
	if e.AppendAudit == nil {
		return nil
	}
	return e.AppendAudit(ctx, ev)
}

// Deps are the shared parts as the lifecycle's other stages take them (internal/mfaauth).
func (e *Env) Deps() session.Deps {
	return session.Deps{Store: e.Store, Sealer: e.Sealer, Config: e.Config, Now: e.Now, Clock: clock.Or(e.Clock), Log: e.Log,
		AppendAudit: e.AppendAudit}
}

// Hooks connect the command language to the concerns built around it. A nil hook means the
// concern is not configured; security hooks that are nil never grant anything by themselves.
type Hooks struct {
	// SetupGate refuses everything but help, info and setup commands until required factors
	// exist; cmd is nil for a connection to a server.
	SetupGate func(ctx context.Context, s *Session, cmd *session.CommandInfo) *refusal.Refusal
	// JIT asks for a second factor when cmd requires one; a non-nil result is a refusal.
	JIT func(ctx context.Context, s *Session, cmd session.CommandInfo) *refusal.Refusal
	// Connect handles [user@]host lines (s.Request) and returns what it did and the exit status.
	Connect func(ctx context.Context, s *Session) (session.Outcome, int)
	// CommandDone is told of every command run, for the audit log.
	CommandDone func(ctx context.Context, s *Session, cmd string, args []string, r Result)
	// ProactiveMFA asks for the second factor up front (--proactive-mfa, the interactive `mfa`).
	ProactiveMFA func(ctx context.Context, s *Session) (session.Proof, *refusal.Refusal)
	// Ask asks one question on the session's terminal, without echo (the first-login
	// enrolment's choice of factor); nil: nothing is asked.
	Ask func(ctx context.Context, s *Session, question string) (string, error)
	// WebLogin makes a one-time web console login URL for the account, bound to the factors its
	// SSH session proved, and the console certificate's fingerprint (nil: no console).
	WebLogin func(ctx context.Context, acc store.Account, factors []string) (url, fingerprint string, err error)
}

// connect runs the Connect hook and keeps what it returns as the session's outcome (the command
// run before it, in the interactive mode, stays named).
func (e *Env) connect(ctx context.Context, s *Session) int {
	o, code := e.Hooks.Connect(ctx, s)
	if d := dispatchOf(ctx); d != nil {
		o.Plugin = d.out.Plugin
		d.out = o
	}
	return code
}

// dispatch is what one Serve call learns as it goes: the outcome it returns. It is the
// dispatcher's own (not in the shared Session) and reaches Run and connect through the context,
// since batch and interactive lines come back to them through the commands.
type dispatch struct{ out Outcome }

type dispatchKey struct{}

func dispatchOf(ctx context.Context) *dispatch {
	d, _ := ctx.Value(dispatchKey{}).(*dispatch)
	return d
}

// proactiveMFA runs the ProactiveMFA hook and keeps the proof it returns: the factors it checked
// stand for themselves until it expires.
func (e *Env) proactiveMFA(ctx context.Context, s *Session) *refusal.Refusal {
	p, r := e.Hooks.ProactiveMFA(ctx, s)
	if r == nil {
		s.MFAUntil, s.MFAProofs = p.Until, p.Factors
	}
	return r
}

// Outcome and Session are the lifecycle's (internal/session); the command language uses them
// under these names.
type (
	Outcome = session.Outcome
	Session = session.Session
)

// Call is one run of one command.
type Call struct {
	Env  *Env
	Sess *Session
	Cmd  *Command
	Args Args
	P    *Printer
}

// Caller is the account running the command.
func (c *Call) Caller() *store.Account { return &c.Sess.Account }

// Now is the current time.
func (c *Call) Now() time.Time { return c.Env.Now() }

// Cfg is the configuration in force.
func (c *Call) Cfg() *config.Config { return c.Env.Config() }

// errTooLong is a line longer than maxCommandLine: refused before it is looked at.
type errTooLong struct{ n, max int }

func (e errTooLong) Error() string {
	return fmt.Sprintf("The command line is too long (%d bytes, at most %d)", e.n, e.max)
}

// Parse parses the line a session channel asked to run, once for the whole lifecycle (ingress
// calls it; the recorder and the dispatcher read the result). A line that is too long or does
// not parse carries its refusal in Err, and what could be read of it in Request.
func (e *Env) Parse(line string) session.Line {
	ln := session.Line{Raw: line}
	req, perr := ParseLine(line)
	if perr == nil {
		req, perr = TransferPlugin(req) // The Bastion's --host H --osh scp|sftp: a target request
	}
	ln.Request = req
	if w, err := Split(line); err == nil {
		ln.Words = w
	}
	switch max := e.Config().MaxCommandLine; {
	case len(line) > max:
		ln.Err = errTooLong{len(line), max}
	case perr != nil:
		ln.Err = fmt.Errorf("Error parsing the command line: %w", perr)
	}
	return ln
}

// isSetupCommand reports whether name is one of the commands that enrol a factor.
func (e *Env) isSetupCommand(name string) bool {
	if c, ok := e.Registry.Lookup(name); ok {
		name = c.Name
	}
	return name == SetupPasswordCommand || name == SetupTOTPCommand
}

// Serve runs a session's parsed line and returns what the session did and its exit status.
// A panic is carried on to ingress's recovery point with the outcome known so far (crash.Panic's
// Known), which it records.
func (e *Env) Serve(ctx context.Context, s *Session, ln session.Line) (Outcome, int) {
	d := &dispatch{}
	var code int
	if p := crash.Catch(func() { code = e.serve(context.WithValue(ctx, dispatchKey{}, d), s, ln) }); p != nil {
		p.Known = d.out
		crash.Rethrow(p)
	}
	return d.out, code
}

func (e *Env) serve(ctx context.Context, s *Session, ln session.Line) int {
	cfg := e.Config()
	if ln.Err != nil {
		// Even a line that does not parse may have asked for JSON: honour it if we can see it.
		mode := jsonModeOf(ln.Raw)
		if errors.As(ln.Err, new(errTooLong)) {
			mode = JSONNone
		}
		return e.emit(s, Refuse("KO_GETOPTS_FAILED", "%s", ln.Err.Error()), mode, false)
	}
	req := ln.Request
	if r := e.accountGate(s); r != nil {
		return e.emit(s, *r, req.JSON, req.Quiet)
	}
	if r := e.maintenanceGate(ctx, s); r != nil {
		return e.emit(s, *r, req.JSON, req.Quiet)
	}
	// Activity is recorded only for accounts let in, so an expired account stays expired.
	if err := e.Store.TouchAccount(ctx, s.Account.Name, e.Now()); err != nil {
		e.Log.Warn("cannot record last activity", "account", s.Account.Name, "err", err)
	}
	// First-login enrolment: on a terminal, a factor the policy requires is set up before
	// anything else (the setup commands excepted: they are the enrolment).
	if s.PTY && !e.isSetupCommand(req.Osh) {
		if r := e.enrolGate(ctx, s, nil); r != nil {
			return e.emit(s, *r, req.JSON, req.Quiet)
		}
	}
	if req.ProactiveMFA && e.Hooks.ProactiveMFA != nil {
		if r := e.proactiveMFA(ctx, s); r != nil {
			return e.emit(s, Refused(r), req.JSON, req.Quiet)
		}
	}
	if req.SSHAs != "" {
		if r := e.sshAs(ctx, s); r != nil {
			return e.emit(s, *r, req.JSON, req.Quiet)
		}
	}
	switch {
	case req.Osh != "":
		r := e.Run(ctx, s, req.Osh, req.OshArgs, req.Quiet)
		return e.emitJSONOnly(s, r, req.JSON)
	case req.HasTarget():
		if r := e.enrolGate(ctx, s, nil); r != nil {
			return e.emit(s, *r, req.JSON, req.Quiet)
		}
		if e.Hooks.Connect == nil {
			return e.emit(s, Refuse("KO_ACCESS_DENIED", "Access denied for %s to %s: connections to servers are not enabled on this bastion", s.Account.Name, req.Host), req.JSON, req.Quiet)
		}
		return e.connect(ctx, s)
	case req.Help:
		r := e.Run(ctx, s, "help", nil, req.Quiet)
		return e.emitJSONOnly(s, r, req.JSON)
	default:
		switch NoTargetAnswer(len(ln.Words), req.Interactive, cfg.InteractiveModeAllowed, cfg.InteractiveModeByDefault) {
		case "KO_INTERACTIVE_DISABLED":
			return e.emit(s, Refuse("KO_INTERACTIVE_DISABLED", "Sorry, the interactive mode is disabled on this bastion"), req.JSON, req.Quiet)
		case "KO_NO_HOST":
			return e.emit(s, Refuse("KO_NO_HOST", "No command specified and no host to connect to: use [user@]host, --osh COMMAND, or -i"), req.JSON, req.Quiet)
		}
		return e.Interactive(ctx, s)
	}
}

// NoTargetAnswer decides what a line with neither a host nor a command gets, as The Bastion does:
// the interactive mode only for -i, or for no words at all when it is the default; any other
// words (global options alone, e.g. `-- --json-greppable`) answer KO_NO_HOST, since a script
// that sent them waits for an answer, not a prompt. It returns "interactive" or the refusal code.
func NoTargetAnswer(words int, interactive, allowed, byDefault bool) string {
	switch {
	case interactive && !allowed:
		return "KO_INTERACTIVE_DISABLED"
	case interactive, words == 0 && allowed && byDefault:
		return "interactive"
	}
	return "KO_NO_HOST"
}

func jsonModeOf(line string) JSONMode {
	switch {
	case strings.Contains(line, "--json-greppable"):
		return JSONGreppable
	case strings.Contains(line, "--json-pretty"):
		return JSONPretty
	case strings.Contains(line, "--json"):
		return JSONCompact
	}
	return JSONNone
}

// accountGate refuses frozen, expired and inactive accounts before anything else runs. Frozen
// and TTL are access.AccountGate's, the one gate the connector's decision applies too.
func (e *Env) accountGate(s *Session) *Result {
	a := &s.Account
	now := e.Now()
	if ref := access.AccountGate(now, access.Account{Name: a.Name, Frozen: a.Frozen, FrozenReason: a.FrozenReason, Expiry: a.ExpiresAt}); ref != nil {
		r := Refused(ref)
		return &r
	}
	if r := e.externalValidation(s); r != nil {
		return r
	}
	eff := *a
	eff.AlwaysActive = eff.AlwaysActive || e.Config().AlwaysActive(a.Name)
	days, expired := InactivityExpired(&eff, now, e.Config().AccountMaxInactiveDays)
	if !expired {
		return nil
	}
	r := Refuse("KO_ACCOUNT_EXPIRED", "Sorry %s, your account has expired: no login for more than %d days, access denied by policy", a.Name, days)
	return &r
}

// InactivityExpired applies accountMaxInactiveDays (or the account's own --max-inactive-days):
// it returns the limit in force and whether the account went longer than it without a login.
// Always-active accounts and accounts that never logged in do not expire this way.
func InactivityExpired(a *store.Account, now time.Time, globalDays int) (days int, expired bool) {
	days = a.MaxInactiveDays
	if days < 0 {
		days = globalDays
	}
	if days <= 0 || a.AlwaysActive || a.LastSeenAt.IsZero() {
		return days, false
	}
	// Past MaxInactiveDays the limit in nanoseconds overflows time.Duration (it wrapped
	// negative: `--max-inactive-days 200000`, meant as "about never", expired the account at
	// once), and no gap between two times is that long (Sub saturates): never expired.
	if days > MaxInactiveDays {
		return days, false
	}
	return days, now.Sub(a.LastSeenAt) > time.Duration(days)*24*time.Hour
}

// MaxInactiveDays is the largest --max-inactive-days (and accountMaxInactiveDays) accepted:
// 100 years, as the configuration's bound; far below the ~106,751 days a time.Duration holds.
const MaxInactiveDays = 100 * 365

// MaintenanceSetting is the bastion setting that holds the maintenance message (adminMaintenance).
const MaintenanceSetting = "maintenance"

// maintenanceGate refuses everyone but admins while the bastion is in maintenance. An error
// reading the state refuses too (fail closed), admins excepted so they can repair it.
func (e *Env) maintenanceGate(ctx context.Context, s *Session) *Result {
	if s.Roles.Admin {
		return nil
	}
	msg, err := e.Store.BastionSetting(ctx, MaintenanceSetting)
	if err != nil {
		e.Log.Error("cannot read the maintenance state; refusing", "err", err)
		msg = "the bastion cannot read its state"
	}
	if msg == "" {
		return nil
	}
	r := Refuse("KO_MAINTENANCE_MODE", "Sorry %s, this bastion is in maintenance mode: %s", s.Account.Name, msg)
	return &r
}

func (e *Env) setupGate(ctx context.Context, s *Session, cmd *Command) *Result {
	if e.Hooks.SetupGate == nil {
		return nil
	}
	var info *session.CommandInfo
	if cmd != nil {
		i := cmd.Info()
		info = &i
	}
	if ref := e.Hooks.SetupGate(ctx, s, info); ref != nil {
		r := Refused(ref)
		return &r
	}
	return nil
}

// Run runs one command with its options in the session, printing its human output, and returns
// its result (the caller prints the JSON). Batch and the interactive mode call it per line.
func (e *Env) Run(ctx context.Context, s *Session, name string, args []string, quiet bool) Result {
	p := &Printer{W: s.Out, Quiet: quiet, Width: TermWidth(s)}
	cmd, ok := e.Registry.Lookup(name)
	if !ok {
		r := Refuse("KO_UNKNOWN_COMMAND", "Unknown command %q: use --osh help to list the commands you may run", quoted(name))
		e.printRefusal(p, r)
		return r
	}
	if pc, ok := e.Config().Plugin[cmd.Name]; ok && pc.Disabled {
		r := Refuse("KO_PLUGIN_DISABLED", "Sorry, the command %s is disabled on this bastion", cmd.Name)
		e.printRefusal(p, r)
		return r
	}
	// The audit records each option under its own name (CanonicalArgs): `--acc` is `--account`.
	wantsHelp := WantsHelp(args)
	args = CanonicalArgs(cmd, args)
	if ok, r := Authorize(cmd, s.Roles); !ok {
		e.printRefusal(p, r)
		e.done(ctx, s, cmd.Name, args, r)
		return r
	}
	if wantsHelp {
		// The usage is static text: shown to whoever may run the command, before any MFA.
		p.Header(e.Config().BastionName, e.Version, cmd.Summary)
		p.Block(Usage(cmd))
		p.Footer(cmd.Name)
		r := OK(cmd.Name, nil)
		e.done(ctx, s, cmd.Name, args, r)
		return r
	}
	if r := e.enrolGate(ctx, s, cmd); r != nil {
		e.printRefusal(p, *r)
		return *r
	}
	if e.Hooks.JIT != nil {
		// A factor the command requires and the account lacks is enrolled on a terminal.
		if ref := e.WithEnrolment(ctx, s, func() *refusal.Refusal { return e.Hooks.JIT(ctx, s, cmd.Info()) }); ref != nil {
			r := Refused(ref)
			e.printRefusal(p, r)
			e.done(ctx, s, cmd.Name, args, r)
			return r
		}
		// A factor may take minutes to give: what the account may do is read again after it.
		if r := e.reauthorize(ctx, s, cmd); r != nil {
			e.printRefusal(p, *r)
			e.done(ctx, s, cmd.Name, args, *r)
			return *r
		}
	} else if needsMFA(cmd, e.Config()) {
		// No second factor can be asked here: a command that requires one is refused.
		r := Refuse("KO_MFA_FAILED", "MFA is required to run %s, but no second factor is available on this bastion", cmd.Name)
		e.printRefusal(p, r)
		e.done(ctx, s, cmd.Name, args, r)
		return r
	}
	if d := dispatchOf(ctx); d != nil && d.out.Plugin == "" {
		d.out.Plugin, d.out.Allowed = cmd.Name, true
	}
	if cmd.ShowsSecrets && s.PauseRecording != nil {
		s.PauseRecording(true)
		defer s.PauseRecording(false)
	}
	p.Header(e.Config().BastionName, e.Version, cmd.Summary)
	// Short and abbreviated names first, so a positional word (ping's bare host) is found
	// after every option has its own name.
	parsed, err := ParseCommandArgs(cmd, WithPositional(cmd.Options, cmd.Positional, CanonicalArgs(cmd, args)))
	var r Result
	if err != nil {
		r = Fail(cmd.Name, "ERR_BAD_OPTIONS", "%v", err)
	} else {
		r = safeRun(ctx, &Call{Env: e, Sess: s, Cmd: cmd, Args: parsed, P: p}, e.Log)
		r.Command = cmd.Name
	}
	if !r.Success() {
		p.Line("⛔ %s", messageOf(r))
	}
	p.Footer(cmd.Name)
	e.done(ctx, s, cmd.Name, args, r)
	return r
}

// reauthorize applies the account gates and Authorize again to the account as the store holds it
// now (Recheck), so that a grant revoked or a freeze made during a prompt is obeyed.
func (e *Env) reauthorize(ctx context.Context, s *Session, cmd *Command) *Result {
	if r := e.Recheck(ctx, s); r != nil {
		return r
	}
	if ok, r := Authorize(cmd, s.Roles); !ok {
		return &r
	}
	return nil
}

// needsMFA reports whether cmd requires a second factor, built in or by the operator's config.
func needsMFA(cmd *Command, cfg *config.Config) bool {
	if r := cmd.MFARequired; r != "" && r != "none" && r != "any-if-configured" {
		return true
	}
	r := cfg.Plugin[cmd.Name].MFARequired
	return r != "" && r != "none"
}

// safeRun runs a command. A panic is not recovered here but at the session boundary
// (internal/ingress), the one recovery point: it ends this connection only, with its stack in
// the log, an audit event and a metric, and never reports success.
func safeRun(ctx context.Context, c *Call, _ *slog.Logger) Result {
	return c.Cmd.Run(ctx, c)
}

func (e *Env) done(ctx context.Context, s *Session, cmd string, args []string, r Result) {
	if e.Hooks.CommandDone != nil {
		e.Hooks.CommandDone(ctx, s, cmd, args, r)
	}
}

func messageOf(r Result) string {
	if r.Message != "" {
		return r.Message
	}
	return r.Code
}

func (e *Env) printRefusal(p *Printer, r Result) {
	if p.Quiet {
		p.Line("%s", messageOf(r))
		return
	}
	p.Header(e.Config().BastionName, e.Version, "")
	p.Line("⛔ %s", messageOf(r))
	p.Footer("")
}

// Refuse prints a refusal (human form, then JSON when the line asked for it) and returns its
// exit status. Hooks use it so their refusals look like the dispatcher's.
func (e *Env) Refuse(s *Session, r Result) int { return e.emit(s, r, s.Request.JSON, s.Request.Quiet) }

// ShowRefusal prints a lifecycle refusal (the relay's) as Refuse does, and returns its exit status.
func (e *Env) ShowRefusal(s *Session, r *refusal.Refusal) int { return e.Refuse(s, Refused(r)) }

// emit prints a refusal in human form, then its JSON, and returns its exit status.
func (e *Env) emit(s *Session, r Result, mode JSONMode, quiet bool) int {
	e.printRefusal(&Printer{W: s.Out, Quiet: quiet, Width: TermWidth(s)}, r)
	return e.emitJSONOnly(s, r, mode)
}

func (e *Env) emitJSONOnly(s *Session, r Result, mode JSONMode) int {
	// Written in parts when the answer is a long list (WriteJSON); a client that went away
	// while reading it is not an error of the bastion's.
	if err := WriteJSON(s.Out, r, mode); err != nil && !errors.Is(err, ErrJSONWrite) {
		e.Log.Error("cannot encode JSON result", "err", err)
	}
	return r.ExitCode()
}

// externalValidation asks accountExternalValidationProgram whether the account is active
// (internal/extvalid), as The Bastion's osh.pl does before anything else.
func (e *Env) externalValidation(s *Session) *Result {
	cfg := e.Config()
	if cfg.ExtValidationProgram == "" {
		return nil
	}
	a := &s.Account
	in := extvalid.Input{DenyOnFailure: cfg.ExtValidationDenyOnFailure, Admin: s.Roles.Admin, AlwaysActive: a.AlwaysActive || cfg.AlwaysActive(a.Name)}
	var stderr string
	if !in.AlwaysActive {
		in.Ran, in.Status, stderr = extvalid.Run(context.Background(), cfg.ExtValidationProgram, a.Name)
	}
	v := extvalid.Decide(in)
	if v.Failure && e.Log != nil {
		args := []any{"account", a.Name, "program", cfg.ExtValidationProgram, "ran", in.Ran, "status", in.Status, "allowed", v.Allow}
		if v.LogStderr {
			args = append(args, "stderr", stderr)
		}
		e.Log.Warn("account external validation could not decide", args...)
	}
	if v.Allow {
		return nil
	}
	msg := fmt.Sprintf("Sorry %s, your account is inactive.", a.Name)
	if v.ShowStderr && stderr != "" {
		msg += " " + stderr
	}
	r := Refuse("KO_INACTIVE_ACCOUNT", "%s", msg)
	return &r
}
