// Package session holds the lifecycle's own small types: who is connected (Identity), what they
// asked for (Request, parsed once), the live Session a request runs in, and what happened
// (Outcome). The relay (internal/connect), the MFA wiring (internal/mfaauth), the recorder
// (internal/sessionlog) and the command language (internal/osh) all depend on these types, and
// none of them on each other's. The lifecycle itself, step by step, is in lifecycle.go.
package session

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"gatehouse/internal/audit"
	"gatehouse/internal/clock"
	"gatehouse/internal/config"
	"gatehouse/internal/seal"
	"gatehouse/internal/store"
	"gatehouse/internal/termsize"
)

// Deps are the parts every stage of a session may use for the life of the server.
type Deps struct {
	Store  store.Store
	Sealer *seal.Sealer
	Config func() *config.Config // the current configuration (it may be reloaded)
	Now    func() time.Time      // Clock.Now, the time every stage reads
	Log    *slog.Logger
	// AppendAudit appends a typed security event to the audit log (never with a secret); a
	// non-nil error means it is not in the log, and an action not yet done must be refused.
	// nil: nothing is audited (tests).
	AppendAudit audit.AppendFunc
	// Clock is the server's clock (app.Options.Clock) for the timers of the path (the TTL that
	// ends a session, idle lock and kill); nil: the system clock (clock.Or).
	Clock clock.Clock
}

// Identity is who a connection authenticated as. Ingress sets it once, when the session channel
// opens, and nothing writes it again: the account's current state (frozen, grants …) is in
// Session.Account and is reloaded, but the identity a session acts as never changes.
type Identity struct {
	AccountID string // the account's immutable id (a namesake created later is another account)
	Account   string // the account's name at login
	// Key is the fingerprint of the ingress key whose signature was verified ("" if none).
	Key string
	// Source and Local are the client's and the bastion's addresses.
	Source, Local net.Addr
	// FactorsOK says the second factors asked at SSH authentication (if any) were passed.
	FactorsOK bool
	// At is when the session channel opened.
	At time.Time
}

// JSONMode is how machine output is framed, as The Bastion's --json* options.
type JSONMode int

const (
	JSONNone      JSONMode = iota
	JSONCompact            // --json: JSON_START / one line / JSON_END
	JSONPretty             // --json-pretty: the same markers around an indented body
	JSONGreppable          // --json-greppable: one line JSON_OUTPUT=…
)

// Request is the parsed line a user typed after `ssh … --` (osh.ParseLine parses it, once).
type Request struct {
	Osh     string   // --osh COMMAND
	OshArgs []string // the command's own options
	JSON    JSONMode
	Quiet   bool

	Interactive  bool // -i
	ProactiveMFA bool // --proactive-mfa
	ForceTTY     bool // -t
	NoTTY        bool // -T
	Help         bool // --help
	// SelfPassword (-P, --self-password) and PasswordGroup (--password GROUP) log in to the
	// target with the account's or the group's egress password instead of keys.
	SelfPassword  bool
	PasswordGroup string
	// FallbackPasswordDelay (--fallback-password-delay S): seconds between the passwords tried
	// in turn; nil: The Bastion's default, 3.
	FallbackPasswordDelay *int

	// The Bastion's connection options: --wait (wait until the target's port answers),
	// --ssh-as ACCOUNT (an admin connects as another account, audited with both names),
	// --always-escape / --never-escape (its legacy quoting of the remote command).
	Wait         bool
	SSHAs        string
	AlwaysEscape bool
	NeverEscape  bool

	// The target, for [user@]host [-p port] [-u user] [command …].
	User          string
	Host          string
	Port          int // 0: not given
	RemoteCommand []string
	// RemoteCommandLine is the remote command exactly as typed (ParseLine); "" from ParseWords.
	RemoteCommandLine string
	// Subsystem is the SSH subsystem ("sftp") asked of the target instead of a command: The
	// Bastion's `--host H --osh sftp` (osh.TransferPlugin).
	Subsystem string
}

// Command is the remote command to run on the target: as typed when known, else its words.
func (r *Request) Command() string {
	if r.RemoteCommandLine != "" {
		return r.RemoteCommandLine
	}
	return strings.Join(r.RemoteCommand, " ")
}

// HasTarget reports whether the line names a server to connect to.
func (r *Request) HasTarget() bool { return r.Host != "" }

// Kind is the session's kind for its row and its audit entries: "osh", "ssh" or "interactive".
func (r *Request) Kind() string {
	switch {
	case r.Osh != "":
		return "osh"
	case r.HasTarget():
		return "ssh"
	}
	return "interactive"
}

// Line is what a session channel asked to run, parsed once (osh.Env.Parse) before anything
// else sees it: the recorder names and titles the recording from it, the dispatcher runs it.
type Line struct {
	Raw string
	// Words are Raw cut as a shell would (nil when it does not split): the audit's params.
	Words   []string
	Request Request
	// Err is why the line is refused before anything runs (too long, does not parse); Request
	// then holds what could be read of it, for the recording and the JSON mode of the refusal.
	Err error
}

// Proof is what proactive MFA returns on success: the factors it checked, with when, and until
// when they count. The command language keeps it in the session (MFAUntil, MFAProofs).
type Proof struct {
	Until   time.Time
	Factors map[string]time.Time
}

// Outcome is what a session did, for its session row and its audit entries. The dispatcher and
// the connector return it; the recorder (internal/sessionlog) consumes it at the session's end.
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

// Target is where a connection goes once the connector resolved it: what the MFA wiring is told
// (the chat factors go to the channels of the groups whose access matches it).
type Target struct {
	User, Host string
	IP         netip.Addr
	Port       int
	Display    string // user@host:port as the user reads it
}

// CommandInfo is what the MFA wiring needs to know of a command (osh.Command.Info gives it).
type CommandInfo struct {
	Name string
	// MFARequired is the built-in JIT MFA requirement ("", "any", "password", "totp",
	// "any-if-configured").
	MFARequired string
	// MFASetupNotRequired lets the command run before required factors are set up.
	MFASetupNotRequired bool
}

// Roles is what an account may do beyond open commands. It is computed from the store for each
// session (and again on Reload); osh.Authorize is a pure function of it.
type Roles struct {
	Admin      bool
	SuperOwner bool // implied by Admin
	Auditor    bool
	Grants     map[string]bool // restricted commands granted one by one
	// Group roles held on at least one group (the command then checks the specific group).
	OwnerOfAny, GatekeeperOfAny, AclkeeperOfAny bool
}

// Pseudo-commands that grant roles through accountGrantCommand.
const (
	GrantAdmin      = "admin"
	GrantSuperOwner = "superowner"
	GrantAuditor    = "auditor"
)

// RolesOf derives the roles an account's grants give it (group roles are added by the caller).
func RolesOf(a store.Account) Roles {
	r := Roles{Grants: map[string]bool{}}
	for _, g := range a.Grants {
		r.Grants[g] = true
	}
	r.Admin = r.Grants[GrantAdmin]
	r.SuperOwner = r.Admin || r.Grants[GrantSuperOwner]
	r.Auditor = r.Grants[GrantAuditor]
	return r
}

// Session is one SSH session channel of an authenticated account, as the stages after ingress
// see it. Who writes what:
//   - ingress (internal/ingress) builds it before anything runs: Identity, ID, Request (the line
//     parsed once), the streams (wrapped with what the recorder's track returns), pty, Resize,
//     Signals, PauseRecording, Reload; Account and Roles are the account as the store holds it
//     now, refreshed by Reload only;
//   - the command language (internal/osh and its commands) owns Interactive, InBatch and Editor,
//     the Request of each interactive line, the streams while its interactive mode runs (its
//     line editor as Out, a relay's column tracking on Err/RawOut/RawErr, restored when it
//     ends), and the proactive MFA state (MFAUntil, MFAProofs) that its ProactiveMFA hook
//     returns (Proof);
//   - the relay, the MFA wiring and the recorder read it and write nothing: they return what
//     happened (session.Outcome, *refusal.Refusal, Proof).
type Session struct {
	// ID is the session's unique id: its recording, its session row and its audit entries.
	ID string
	// Identity is who authenticated; set once by ingress.
	Identity Identity
	Account  store.Account
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
	// Editor is the interactive mode's line editor while it runs (nil otherwise): prompts for a
	// second factor are asked through it, never echoed.
	Editor Editor
	// Resize receives window changes while a pty is open (may be nil).
	Resize <-chan termsize.Size
	// Signals receives signal names ("INT", "TERM" …) the client sends (may be nil).
	Signals <-chan string
	// Requests, when set, is the session channel's request loop, which a relay takes over while
	// it waits (egress.RequestLoop): an idle relayed session then holds one goroutine fewer.
	Requests RequestLoop
	// Reload, when set, reloads the account and its roles from the store.
	Reload func(ctx context.Context) error
	// PauseRecording, when set, stops (true) and resumes (false) recording the session's output.
	PauseRecording func(paused bool)
	// RawOut and RawErr are the channel without the CRLF translation Out and Err do on a pty:
	// relayed sessions write through them, since the target's own terminal already did it.
	RawOut, RawErr io.Writer

	// TargetFactors are the factors ("totp", "approval" …, policy.Factors' names) answered on the
	// client's own prompt (keyboard-interactive) when the connection was authenticated for its
	// one target: a jump's inner connection, or a target in the user name (nil: none). They count
	// for that connection's sessions only, whose target is fixed (ingress sets them once).
	TargetFactors []string
}

// Editor is a terminal line editor (golang.org/x/term's Terminal) that reads secrets without
// echo.
type Editor interface {
	io.Writer
	ReadLine() (string, error)
	ReadPassword(prompt string) (string, error)
}

// MFAValidated reports whether a proactive second factor still counts at now.
func (s *Session) MFAValidated(now time.Time) bool {
	return !s.MFAUntil.IsZero() && now.Before(s.MFAUntil)
}

// HasTerminal reports whether what the user types can be kept from showing: a pty (the client's
// terminal is raw, the bastion does not echo) or the interactive mode's line editor.
func (s *Session) HasTerminal() bool { return s.Editor != nil || s.PTY }

// RequestLoop is a session channel's request loop, lent to a relay (egress.RequestLoop).
type RequestLoop interface {
	Lend() (<-chan *ssh.Request, bool)
	Handle(*ssh.Request)
	Closed()
	Return()
}
