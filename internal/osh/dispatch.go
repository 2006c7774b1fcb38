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
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"gatehouse/internal/config"
	"gatehouse/internal/seal"
	"gatehouse/internal/store"
	"gatehouse/internal/termsize"
)

// Env is what commands share for the life of the server.
type Env struct {
	Store    store.Store
	Sealer   *seal.Sealer
	Config   func() *config.Config // the current configuration (it may be reloaded)
	Registry *Registry
	Version  string
	Now      func() time.Time
	Log      *slog.Logger
	Hooks    Hooks
	// Audit appends a security event to the audit log (never with a secret); may be nil.
	Audit func(ctx context.Context, typ string, fields map[string]any)
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
}

// Hooks connect the command language to the concerns built around it. A nil hook means the
// concern is not configured; security hooks that are nil never grant anything by themselves.
type Hooks struct {
	// SetupGate refuses everything but help, info and setup commands until required factors exist.
	SetupGate func(ctx context.Context, s *Session, cmd *Command) *Result
	// JIT asks for a second factor when cmd requires one; a non-nil result is a refusal.
	JIT func(ctx context.Context, s *Session, cmd *Command) *Result
	// Connect handles [user@]host lines and returns the exit status.
	Connect func(ctx context.Context, s *Session) int
	// CommandDone is told of every command run, for the audit log.
	CommandDone func(ctx context.Context, s *Session, cmd string, args []string, r Result)
	// ProactiveMFA asks for the second factor up front (--proactive-mfa, the interactive `mfa`).
	ProactiveMFA func(ctx context.Context, s *Session) *Result
}

// Outcome is what a session did, filled as it goes, for its session row and audit entries.
type Outcome struct {
	Plugin  string // the --osh command run
	Allowed bool   // the command was authorized, or the connection was granted
	Kind    string // "osh", "interactive", "ssh"
	// The target of a connection, once resolved.
	User, Host, IPTo string
	PortTo           int
	BytesIn          int64
	BytesOut         int64
	Comment          string
}

// Session is one SSH session channel of an authenticated account.
type Session struct {
	// ID is the session's unique id: its recording, its session row and its audit entries.
	ID string
	// Outcome is filled by the dispatcher and the connector.
	Outcome Outcome
	Account store.Account
	// AuthKey is the fingerprint of the ingress key whose signature was verified ("" if none).
	AuthKey    string
	Roles      Roles
	RemoteAddr net.Addr
	LocalAddr  net.Addr
	In         io.Reader
	Out        io.Writer
	Err        io.Writer
	PTY        bool
	Term       string
	Modes      string // the client's encoded terminal modes (RFC 4254 8)
	Cols, Rows int
	Request    Request
	// MFAUntil is when a proactively validated second factor stops counting (zero: not validated).
	MFAUntil time.Time
	// MFAProofs are the factors ("password", "totp") that proactive MFA validated in this
	// session, with when. Each stands only for its own factor, and only while MFAValidated.
	MFAProofs   map[string]time.Time
	InBatch     bool
	Interactive bool
	// Resize receives window changes while a pty is open (may be nil).
	Resize <-chan termsize.Size
	// Signals receives signal names ("INT", "TERM" …) the client sends (may be nil).
	Signals <-chan string
	// Reload, when set, reloads the account and its roles from the store.
	Reload func(ctx context.Context) error
	// PauseRecording, when set, stops (true) and resumes (false) recording the session's output.
	PauseRecording func(paused bool)
	// RawOut and RawErr are the channel without the CRLF translation Out and Err do on a pty:
	// relayed sessions write through them, since the target's own terminal already did it.
	RawOut, RawErr io.Writer
}

// MFAValidated reports whether a proactive second factor still counts at now.
func (s *Session) MFAValidated(now time.Time) bool {
	return !s.MFAUntil.IsZero() && now.Before(s.MFAUntil)
}

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

// Serve runs the line an account typed after `--` and returns the exit status.
func (e *Env) Serve(ctx context.Context, s *Session, line string) int {
	cfg := e.Config()
	if len(line) > cfg.MaxCommandLine {
		r := Refuse("KO_GETOPTS_FAILED", "The command line is too long (%d bytes, at most %d)", len(line), cfg.MaxCommandLine)
		return e.emit(s, r, JSONNone, false)
	}
	req, perr := ParseLine(line)
	if perr != nil {
		// Even a line that does not parse may have asked for JSON: honour it if we can see it.
		r := Refuse("KO_GETOPTS_FAILED", "Error parsing the command line: %v", perr)
		return e.emit(s, r, jsonModeOf(line), false)
	}
	s.Request = req
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
	if req.ProactiveMFA && e.Hooks.ProactiveMFA != nil {
		if r := e.Hooks.ProactiveMFA(ctx, s); r != nil {
			return e.emit(s, *r, req.JSON, req.Quiet)
		}
	}
	switch {
	case req.Osh != "":
		r := e.Run(ctx, s, req.Osh, req.OshArgs, req.Quiet)
		return e.emitJSONOnly(s, r, req.JSON)
	case req.HasTarget():
		if r := e.setupGate(ctx, s, nil); r != nil {
			return e.emit(s, *r, req.JSON, req.Quiet)
		}
		if e.Hooks.Connect == nil {
			return e.emit(s, Refuse("KO_ACCESS_DENIED", "Access denied for %s to %s: connections to servers are not enabled on this bastion", s.Account.Name, req.Host), req.JSON, req.Quiet)
		}
		return e.Hooks.Connect(ctx, s)
	case req.Help:
		r := e.Run(ctx, s, "help", nil, req.Quiet)
		return e.emitJSONOnly(s, r, req.JSON)
	default:
		if !cfg.InteractiveModeAllowed || (!req.Interactive && !cfg.InteractiveModeByDefault) {
			if req.Interactive {
				return e.emit(s, Refuse("KO_INTERACTIVE_DISABLED", "Sorry, the interactive mode is disabled on this bastion"), req.JSON, req.Quiet)
			}
			return e.emit(s, Refuse("KO_NO_HOST", "No host specified: use [user@]host, --osh COMMAND, or -i"), req.JSON, req.Quiet)
		}
		return e.Interactive(ctx, s)
	}
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

// accountGate refuses frozen, expired and inactive accounts before anything else runs.
func (e *Env) accountGate(s *Session) *Result {
	a := &s.Account
	now := e.Now()
	cfg := e.Config()
	var r Result
	switch {
	case a.Frozen:
		reason := ""
		if a.FrozenReason != "" {
			reason = " (" + a.FrozenReason + ")"
		}
		r = Refuse("KO_FROZEN", "Sorry %s, your account is frozen%s, access denied", a.Name, reason)
	case !a.ExpiresAt.IsZero() && now.After(a.ExpiresAt):
		r = Refuse("KO_TTL_EXPIRED", "Sorry %s, your account TTL has expired (since %s), access denied", a.Name, a.ExpiresAt.Format(time.RFC3339))
	default:
		days, expired := InactivityExpired(a, now, cfg.AccountMaxInactiveDays)
		if !expired {
			return nil
		}
		r = Refuse("KO_ACCOUNT_EXPIRED", "Sorry %s, your account has expired: no login for more than %d days, access denied by policy", a.Name, days)
	}
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
	expired = days > 0 && !a.AlwaysActive && !a.LastSeenAt.IsZero() && now.Sub(a.LastSeenAt) > time.Duration(days)*24*time.Hour
	return days, expired
}

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
	return e.Hooks.SetupGate(ctx, s, cmd)
}

// Run runs one command with its options in the session, printing its human output, and returns
// its result (the caller prints the JSON). Batch and the interactive mode call it per line.
func (e *Env) Run(ctx context.Context, s *Session, name string, args []string, quiet bool) Result {
	p := &Printer{W: s.Out, Quiet: quiet}
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
	if ok, r := Authorize(cmd, s.Roles); !ok {
		e.printRefusal(p, r)
		e.done(ctx, s, cmd.Name, args, r)
		return r
	}
	if r := e.setupGate(ctx, s, cmd); r != nil {
		e.printRefusal(p, *r)
		return *r
	}
	if e.Hooks.JIT != nil {
		if r := e.Hooks.JIT(ctx, s, cmd); r != nil {
			e.printRefusal(p, *r)
			e.done(ctx, s, cmd.Name, args, *r)
			return *r
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
	if s.Outcome.Plugin == "" {
		s.Outcome.Plugin, s.Outcome.Allowed = cmd.Name, true
	}
	if cmd.ShowsSecrets && s.PauseRecording != nil {
		s.PauseRecording(true)
		defer s.PauseRecording(false)
	}
	p.Header(e.Config().BastionName, e.Version, cmd.Summary)
	parsed, err := ParseArgs(cmd.Options, args)
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

// emit prints a refusal in human form, then its JSON, and returns its exit status.
func (e *Env) emit(s *Session, r Result, mode JSONMode, quiet bool) int {
	e.printRefusal(&Printer{W: s.Out, Quiet: quiet}, r)
	return e.emitJSONOnly(s, r, mode)
}

func (e *Env) emitJSONOnly(s *Session, r Result, mode JSONMode) int {
	if out, err := EncodeJSON(r, mode); err == nil {
		_, _ = s.Out.Write(out)
	} else {
		e.Log.Error("cannot encode JSON result", "err", err)
	}
	return r.ExitCode()
}
