// Package app assembles gatehouse from its parts: configuration, data directory, store, seal key,
// host keys, the command registry and the SSH server. cmd/gatehouse and the end-to-end tests both
// start the bastion through it, so what is tested is what runs.
package app

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"

	"gatehouse/internal/access"
	"gatehouse/internal/archive"
	"gatehouse/internal/audit"
	"gatehouse/internal/clock"
	"gatehouse/internal/config"
	"gatehouse/internal/connect"
	"gatehouse/internal/console"
	"gatehouse/internal/egress"
	"gatehouse/internal/history"
	"gatehouse/internal/ingress"
	"gatehouse/internal/keysync"
	"gatehouse/internal/mfaauth"
	"gatehouse/internal/notifywire"
	"gatehouse/internal/osh"
	"gatehouse/internal/osh/cmd/admin"
	"gatehouse/internal/osh/cmd/common"
	"gatehouse/internal/osh/cmd/groupaclkeeper"
	"gatehouse/internal/osh/cmd/groupgatekeeper"
	"gatehouse/internal/osh/cmd/groupowner"
	"gatehouse/internal/osh/cmd/open"
	"gatehouse/internal/osh/cmd/restricted"
	"gatehouse/internal/record"
	"gatehouse/internal/running"
	"gatehouse/internal/seal"
	"gatehouse/internal/session"
	"gatehouse/internal/sessionlog"
	"gatehouse/internal/sshkey"
	"gatehouse/internal/store"
	"gatehouse/internal/web"
)

// Version is gatehouse's version, shown by info and the banner.
const Version = "0.1.0"

// Options say where the bastion keeps its state and how it starts.
type Options struct {
	DataDir    string
	ConfigFile string // "" : DataDir/gatehouse.toml when it exists, else the defaults
	Listen     string // overrides the config's listen when set
	Log        *slog.Logger
	// Store overrides the config's store: "" SQLite in DataDir, or a postgres://… URL.
	Store string
	// Node overrides the config's node name (a cluster's session list shows it).
	Node string
	// Clock is the time the session path reads and the timers it sets: account gates and TTLs
	// (the TTL that ends a running session), idle lock and kill, the interactive mode's timeout,
	// MFA expiry and proofs, approvals and chat codes (notify), session rows and recordings, key
	// sync; nil is the system clock. Tests move a clock.Fake instead of sleeping. (Durations
	// measured on the wire, such as dial times, stay on the real clock.)
	Clock clock.Clock
	// CompactWorker does each compaction's file work: `gatehouse serve` gives a child process,
	// gatehouse's own binary re-run with record.CompactChildArg (Linux). nil: an idle thread of
	// this process (elsewhere, and tests whose binary is not gatehouse).
	CompactWorker record.CompactWorker
}

// App is one running (or ready to run) bastion.
type App struct {
	DataDir string
	Store   store.Store
	Env     *osh.Env
	Server  *ingress.Server
	// Connector relays [user@]host requests to targets.
	Connector *connect.Connector
	// Audit is the hash-chained audit log; Tracker records and audits sessions.
	Audit   *audit.Log
	Tracker *sessionlog.Tracker
	Metrics *web.Metrics
	// MetricsAddr is where /metrics listens once Serve started ("" when off).
	MetricsAddr string
	// MFA asks second factors: at SSH authentication, before commands and connections.
	MFA *mfaauth.Auth
	// Notify delivers the chat factors, serves approvalListen and sends alerts.
	Notify *notifywire.Wire
	// Sync keeps accounts and keys in step with the [sync] sources (internal/keysync).
	Sync     *keysync.Syncer
	syncStop func() // ends the sync loop and waits for it (Close)
	// PAMAddr is where the targets' pam_gatehouse.so asks, once Serve started ("" when off).
	PAMAddr      string
	pamTicketKey ed25519.PrivateKey
	// Console is the web console ([web] listen; nil when off); WebAddr is where it listens once
	// Serve started.
	Console *console.Console
	WebAddr string
	// Archive ships recordings and audit files to the [archive] bucket (nil without one).
	Archive *archive.Shipper
	// Compactor compresses closed recordings at rest (compact.go).
	Compactor *record.Compactor

	opts    Options
	cluster clusterState
	config  atomic.Pointer[config.Config]
	// started is the configuration the parts read once were started with (RestartNeeded).
	started *config.Config
	log     *slog.Logger
	ops     opsMetrics // the operators' metrics (ops.go)
}

// Open prepares the data directory (0700), the store, the seal key and the host keys.
func Open(ctx context.Context, o Options) (*App, error) {
	if o.DataDir == "" {
		return nil, errors.New("no data directory: give --data-dir DIR")
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	o.Clock = clock.Or(o.Clock)
	// Absolute: recordings' paths are kept in the session rows and the compaction markers,
	// and the compaction child refuses a relative one (a `--data-dir ./data` left every
	// recording uncompacted, its job failing each minute).
	abs, err := filepath.Abs(o.DataDir)
	if err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	o.DataDir = abs
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	if err := os.Chmod(o.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory permissions: %w", err)
	}
	a := &App{DataDir: o.DataDir, opts: o, log: o.Log}
	if err := a.Reload(); err != nil {
		return nil, err
	}
	sealer, err := seal.LoadOrCreate(o.DataDir)
	if err != nil {
		return nil, err
	}
	st, err := a.openStore(ctx, sealer)
	if err != nil {
		return nil, err
	}
	hostKeys, err := a.hostKeys(ctx, st, sealer)
	if err != nil {
		_ = st.Close() // the open error is the one to report
		return nil, err
	}
	jump, err := ingress.LoadOrCreateJumpCA(o.DataDir) // ProxyJump's host CA (docs/transfer.md)
	if err != nil {
		_ = st.Close() // the open error is the one to report
		return nil, err
	}
	a.Store = st
	a.Metrics = web.NewMetrics()
	a.registerOpsMetrics()
	if err := a.openAudit(ctx); err != nil {
		_ = st.Close() // the open error is the one to report
		return nil, err
	}
	reg := NewRegistry()
	a.Env = &osh.Env{
		Store: st, Sealer: sealer, Config: a.Config, Registry: reg, Version: Version,
		Now: o.Clock.Now, Clock: o.Clock, Log: o.Log, AppendAudit: a.appendAudit,
		History: &history.Dir{Path: filepath.Join(o.DataDir, "history")},
		KeyGen:  make(chan struct{}, max(1, runtime.NumCPU()/2)), // half the CPUs at most generate keys
	}
	a.Connector = &connect.Connector{Env: a.Env, Store: st, Sealer: sealer, Log: o.Log,
		Dialer:  egress.Dialer{DialTimeout: 10 * time.Second, HandshakeTimeout: 20 * time.Second},
		Observe: a.observeConnection, OnDial: func(d time.Duration) { a.Metrics.EgressDial.Observe(d.Seconds()) }}
	a.Connector.Locks = connect.NewLocks()
	if err := a.openPAM(); err != nil {
		// The open error is the one to report.
		_ = a.Audit.Close()
		_ = st.Close()
		return nil, err
	}
	a.Env.SessionLocks = a.Connector.Locks
	a.Env.Hooks.Connect = a.Connector.Connect
	a.Env.Hooks.CommandDone = a.commandDone
	a.Server = ingress.New(a.Env, hostKeys, o.Log)
	a.Server.Tracker = a.Tracker
	a.Server.Jump = jump
	jump.Count = a.Metrics.TransferEvents()
	a.Env.JumpCA = jump.CAPublicKey
	// Freezing or deleting an account ends its running sessions through this registry.
	runningSessions := running.New()
	a.Server.Running, a.Env.Running = runningSessions, runningSessions
	a.Tracker.EndSession = runningSessions.EndSession   // a session whose recording fails ends at once
	a.Connector.EndSession = runningSessions.EndSession // an idle-killed relay stuck on a client that does not read
	a.shareSessionControl(runningSessions)
	a.Server.AuthEvent = a.authEvent
	st2 := a.Server.Stats()
	a.Metrics.RegisterServer(web.ServerStats{
		Accepted:                 func() float64 { return float64(st2.Accepted.Load()) },
		Dropped:                  func() float64 { return float64(st2.DroppedStartups.Load()) },
		AuthenticatedConnections: func() float64 { return float64(a.Server.ActiveConnections()) },
		SessionsStarted:          func() float64 { return float64(st2.Sessions.Load()) },
		ActiveSessions:           func() float64 { return float64(a.Server.ActiveSessions()) },
		Panics:                   func() float64 { return float64(st2.Panics.Load()) },
		AcceptErrors:             func() float64 { return float64(st2.AcceptErrors.Load()) },
		PerSourceRefused:         func() float64 { return float64(st2.PerSourceRefused.Load()) },
		PenaltyRefused:           func() float64 { return float64(st2.PenaltyRefused.Load()) },
	})
	a.registerProxyMetrics(st2)
	a.Server.OnPanic = a.sessionPanic
	a.Server.RoleHook = a.groupRoles
	a.MFA = &mfaauth.Auth{Store: st, Sealer: sealer, Config: a.Config, Now: o.Clock.Now, Log: o.Log, AppendAudit: a.appendAudit}
	a.Server.Auth = a.MFA
	a.Server.TargetAuth = a.MFA.TargetFactors // JIT MFA on the client's own prompt for a jump's or a user name's target
	a.Env.Hooks.SetupGate, a.Env.Hooks.JIT, a.Env.Hooks.ProactiveMFA = a.MFA.SetupGate, a.MFA.JIT, a.MFA.ProactiveMFA
	a.guardWithAudit()
	// A factor a group's access requires and the account lacks is enrolled on a terminal.
	a.Connector.MFA = a.connectMFA
	a.Env.Hooks.Ask = a.ask
	// A target's own questions at login (pam_gatehouse.so's factor) are asked like the bastion's.
	// ssh -R through a jump or a target in the user name: the target listens (docs/transfer.md).
	a.Server.RemoteForward = func(ctx context.Context, d ingress.RemoteForwardDial) (ssh.Conn, error) {
		return a.Connector.DialForward(ctx, connect.ForwardDial(d))
	}
	a.Connector.TargetPrompt = func(s *session.Session) connect.PromptFunc {
		return connect.PromptFunc(a.MFA.Prompt(s, mfaauth.Out(s)))
	}
	if a.Notify, err = notifywire.New(ctx, notifywire.Options{Config: a.Config(), Store: st, Sealer: sealer, Log: o.Log,
		AppendAudit: a.appendAudit, Now: o.Clock.Now, Console: a.consoleBase}); err != nil {
		// The open error is the one to report.
		_ = a.Audit.Close()
		_ = st.Close()
		return nil, fmt.Errorf("notify: %w", err)
	}
	a.MFA.Chat = a.Notify
	a.Metrics.RegisterAlerts(a.alertStats)
	a.Sync = a.newSyncer()
	if err := a.openConsole(); err != nil {
		// The open error is the one to report.
		_ = a.Audit.Close()
		_ = st.Close()
		return nil, fmt.Errorf("web console: %w", err)
	}
	if err := a.openArchive(ctx); err != nil {
		// The open error is the one to report.
		_ = a.Audit.Close()
		_ = st.Close()
		return nil, fmt.Errorf("archive: %w", err)
	}
	a.shipCompacted()
	return a, nil
}

// NewRegistry returns every --osh command gatehouse has, each registered by the folder that
// says who may run it.
func NewRegistry() *osh.Registry {
	reg := osh.NewRegistry()
	admin.Register(reg)
	open.Register(reg)
	open.RegisterSessions(reg)
	open.RegisterLock(reg)
	open.RegisterWebLogin(reg)
	restricted.RegisterSessions(reg)
	restricted.Register(reg)
	open.RegisterGroups(reg)
	open.RegisterNetwork(reg)
	restricted.RegisterGroups(reg)
	groupowner.Register(reg)
	open.RegisterPasswords(reg)
	restricted.RegisterPasswords(reg)
	groupowner.RegisterPasswords(reg)
	groupgatekeeper.Register(reg)
	groupaclkeeper.Register(reg)
	open.RegisterMFA(reg)
	restricted.RegisterMFA(reg)
	open.RegisterTransfer(reg)
	return reg
}

// commandNames are the names of every --osh command, for the configuration's [plugin.NAME].
func commandNames() []string {
	var names []string
	for _, c := range NewRegistry().All() {
		names = append(names, c.Name)
	}
	return names
}

// Config is the configuration in force.
func (a *App) Config() *config.Config { return a.config.Load() }

// Reload re-reads the configuration file; on error the running configuration stays.
func (a *App) Reload() error {
	_, err := a.ReloadReport()
	return err
}

// ReloadReport is Reload that also names the changed options only a restart applies (the
// listeners, [notify], the audit sinks: config.RestartNeeded); everything else is in force.
func (a *App) ReloadReport() (restartNeeded []string, err error) {
	if err := a.reload(); err != nil {
		return nil, err
	}
	if a.started == nil {
		a.started = a.Config()
		return nil, nil
	}
	return config.RestartNeeded(a.started, a.Config()), nil
}

func (a *App) reload() error {
	path := a.opts.ConfigFile
	c := config.Default()
	if path == "" {
		if p := filepath.Join(a.opts.DataDir, "gatehouse.toml"); fileExists(p) {
			path = p
		}
	}
	if path != "" {
		var err error
		if c, err = config.Load(path); err != nil {
			return err
		}
		// [plugin.NAME] must name a command: checked here, where the commands are known.
		if err := c.CheckPlugins(commandNames()); err != nil {
			return err
		}
	}
	if a.opts.Listen != "" {
		c.Listen = a.opts.Listen
	}
	a.config.Store(&c)
	return nil
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// Close writes the audit log's final checkpoint and releases the store.
func (a *App) Close() error {
	a.stopSync()
	a.Notify.Close()
	aerr := a.Audit.Close()
	a.flushArchive()
	if err := a.Store.Close(); err != nil {
		return err
	}
	return aerr
}

// Listen opens the configured listening socket.
func (a *App) Listen() (net.Listener, error) {
	ln, err := net.Listen("tcp", a.Config().Listen)
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("listen on %s: %w (another gatehouse running? use --listen)", a.Config().Listen, err)
	}
	if err != nil { // a bad address or port: the hint above would mislead
		return nil, fmt.Errorf("listen on %s: %w", a.Config().Listen, err)
	}
	return ln, nil
}

// Serve runs the SSH server on ln (and the metrics listener when configured) until ctx is
// cancelled.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	if addr := a.Config().MetricsListen; addr != "" {
		mln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("metrics listener %s: %w", addr, err)
		}
		a.MetricsAddr = mln.Addr().String()
		go func() {
			if err := web.Serve(ctx, mln, web.Handler(a.Metrics, a.healthy)); err != nil {
				a.log.Error("metrics listener stopped", "err", err)
			}
		}()
	}
	if err := a.servePAM(ctx); err != nil {
		return err
	}
	if err := a.serveConsole(ctx); err != nil {
		return err
	}
	retry := time.NewTicker(AuditRetryEvery)
	defer retry.Stop()
	go a.Audit.RetryEach(ctx, retry.C)
	go a.listenSessionControl(ctx)
	go func() {
		if err := a.Notify.Run(ctx); err != nil {
			a.log.Error("notify stopped", "err", err)
		}
	}()
	a.startSync(ctx)
	a.runArchive(ctx)
	a.runCompactor(ctx)
	return a.Server.Serve(ctx, ln)
}

// healthy checks that the store answers and that the audit log accepts events (without it,
// every session is refused).
func (a *App) healthy(ctx context.Context) error {
	if err := a.Audit.Healthy(); err != nil {
		return fmt.Errorf("audit log failing: %w", err)
	}
	_, err := a.Store.CountAccounts(ctx)
	return err
}

// Bootstrap is what CreateFirstAdmin did.
type Bootstrap struct {
	Created    bool
	Account    string
	KeyFile    string // the private key generated for the admin, "" when a key was given
	PublicLine string
}

// CreateFirstAdmin creates the first admin when the store has no account. With keyFile "" it
// generates an ed25519 key pair into the data directory (0600) once and uses it.
func (a *App) CreateFirstAdmin(ctx context.Context, name, keyFile string) (b Bootstrap, err error) {
	err = underBootstrapLock(ctx, a.Store, func(ctx context.Context) error {
		b, err = a.createFirstAdmin(ctx, name, keyFile)
		return err
	})
	return b, err
}

func (a *App) createFirstAdmin(ctx context.Context, name, keyFile string) (Bootstrap, error) {
	n, err := a.Store.CountAccounts(ctx)
	if err != nil {
		return Bootstrap{}, err
	}
	if n > 0 {
		return Bootstrap{}, nil
	}
	if name == "" {
		name = "admin"
	}
	if err := access.ValidateAccountName(name); err != nil {
		return Bootstrap{}, fmt.Errorf("--admin: %w", err)
	}
	b := Bootstrap{Created: true, Account: name}
	var line string
	if keyFile != "" {
		data, err := os.ReadFile(keyFile)
		if err != nil {
			return Bootstrap{}, fmt.Errorf("read --admin-key: %w", err)
		}
		line = string(data)
	} else {
		b.KeyFile = filepath.Join(a.DataDir, "admin_ed25519")
		if line, err = adminKeyPair(b.KeyFile); err != nil {
			return Bootstrap{}, err
		}
	}
	k, err := sshkey.Parse(line)
	if err != nil {
		return Bootstrap{}, fmt.Errorf("admin key: %w", err)
	}
	b.PublicLine = k.Line
	now := time.Now().UTC()
	acc := store.Account{Name: name, CreatedAt: now, CreatedBy: "gatehouse-init", AlwaysActive: true,
		MaxInactiveDays: -1, Grants: []string{osh.GrantAdmin}, Comment: "first admin"}
	keys := []store.IngressKey{{Line: k.Line, Type: k.Type, Fingerprint: k.Fingerprint, Comment: k.Comment, From: k.From, CreatedAt: now}}
	if err := a.Store.CreateAccount(ctx, acc, keys); err != nil {
		return Bootstrap{}, fmt.Errorf("create admin: %w", err)
	}
	cfg := a.Config()
	if _, err := common.StoreNewEgressKey(ctx, a.Store, a.Env.Sealer, "account", name, cfg.DefaultAccountEgressKeyAlgorithm, cfg.DefaultAccountEgressKeySize, now); err != nil {
		a.log.Warn("first admin has no egress key yet", "err", err)
	}
	return b, nil
}

// adminKeyPair writes a new ed25519 key pair at path (0600) and path.pub, or reuses it.
func adminKeyPair(path string) (string, error) {
	if data, err := os.ReadFile(path + ".pub"); err == nil {
		return string(data), nil
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", err
	}
	block, err := ssh.MarshalPrivateKey(priv, "gatehouse first admin")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return "", err
	}
	spub, _ := ssh.NewPublicKey(pub)
	line := string(ssh.MarshalAuthorizedKey(spub))
	if err := os.WriteFile(path+".pub", []byte(line), 0o644); err != nil {
		return "", err
	}
	return line, nil
}

// groupRoles completes an account's roles with the group roles it holds on at least one group,
// which is what the dispatcher checks before a group command (the command checks the group).
func (a *App) groupRoles(ctx context.Context, acc store.Account, r *osh.Roles) {
	gs, err := a.Store.GroupsOf(ctx, acc.Name)
	if err != nil {
		a.log.Error("cannot load group roles; group commands will be refused", "account", acc.Name, "err", err)
		return
	}
	for _, g := range gs {
		r.OwnerOfAny = r.OwnerOfAny || g.Has(store.RoleOwner, acc.Name)
		r.GatekeeperOfAny = r.GatekeeperOfAny || g.Has(store.RoleGatekeeper, acc.Name)
		r.AclkeeperOfAny = r.AclkeeperOfAny || g.Has(store.RoleAclkeeper, acc.Name)
	}
}

// appendAudit appends one typed event to the audit log, after counting MFA results and telling
// the alerts. A non-nil error means the event is not in the log: the caller refuses an action
// that has not happened yet (fail closed).
func (a *App) appendAudit(_ context.Context, ev audit.Event) error {
	f := ev.Fields
	a.countOps(ev.Type, f)
	if strings.HasPrefix(ev.Type, "mfa.") {
		a.Metrics.MFA.WithLabelValues(labelOrNil(f.Factor), strings.TrimPrefix(ev.Type, "mfa.")).Inc()
		a.Notify.AuditEvent(ev)
	}
	return a.Audit.Append(ev)
}

// labelOrNil is a metric label of an optional field: "<nil>" when unset, the label such events
// have always had.
func labelOrNil(s string) string {
	if s == "" {
		return "<nil>"
	}
	return s
}

// sessionPanic audits a panic that ended one connection (ingress logged it with its stack and
// counted it). The audit keeps the value and the top of the stack.
func (a *App) sessionPanic(account string, v any, stack []byte) {
	const keep = 2048
	if len(stack) > keep {
		stack = stack[:keep]
	}
	// After the fact: a failure is counted and alerted by the log, nothing is left to refuse.
	_ = a.appendAudit(context.Background(), audit.Event{Type: "session.panic", Fields: audit.Fields{Account: account,
		Result: "panic", Comment: fmt.Sprint(v), Extra: map[string]string{"stack": string(stack)}}})
}

// alertStats feeds the alert metrics.
func (a *App) alertStats() ([]web.AlertChannel, uint64) {
	st := a.Notify.Stats()
	out := make([]web.AlertChannel, 0, len(st.Channels))
	for name, c := range st.Channels {
		out = append(out, web.AlertChannel{Name: name, Enqueued: c.Enqueued, Sent: c.Sent, Failed: c.Failed, Dropped: c.Dropped, Queued: c.Queued})
	}
	return out, st.TapsDropped
}

// Descriptors a relayed session holds (the user's connection, the target's, the recording), and
// those kept aside for the store, the audit log, the listeners and the host's needs.
const (
	DescriptorsPerSession = 3
	descriptorsReserved   = 64
)

// SessionCapacity is how many relayed sessions an open files limit allows.
func SessionCapacity(fileLimit uint64) uint64 {
	if fileLimit <= descriptorsReserved {
		return 0
	}
	return (fileLimit - descriptorsReserved) / DescriptorsPerSession
}
