package app

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/syslog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/ssh"

	"gatehouse/internal/audit"
	"gatehouse/internal/config"
	"gatehouse/internal/connect"
	"gatehouse/internal/netaddr"
	"gatehouse/internal/osh"
	"gatehouse/internal/record"
	"gatehouse/internal/refusal"
	"gatehouse/internal/session"
	"gatehouse/internal/sessionlog"
)

// AuditKeyFile is the bastion's audit signing key in the data directory (hex seed, 0600); its
// public half is AuditKeyFile+".pub" (hex), which `gatehouse audit verify` reads.
const AuditKeyFile = "audit_ed25519"

// LoadOrCreateAuditKey returns the audit signing key, creating it once.
func LoadOrCreateAuditKey(dir string) (ed25519.PrivateKey, error) {
	path := filepath.Join(dir, AuditKeyFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(path, []byte(hex.EncodeToString(priv.Seed())+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("write audit key: %w", err)
		}
		if err := os.WriteFile(path+".pub", []byte(hex.EncodeToString(pub)+"\n"), 0o644); err != nil {
			return nil, fmt.Errorf("write audit public key: %w", err)
		}
		return priv, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read audit key: %w", err)
	}
	seed, err := hex.DecodeString(strings.TrimSpace(string(data)))
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("%s must hold a 64-hex-character ed25519 seed", path)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// ReadAuditPublicKey reads an audit public key file (hex), e.g. DATA-DIR/audit_ed25519.pub.
func ReadAuditPublicKey(path string) (ed25519.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read audit public key: %w", err)
	}
	pub, err := hex.DecodeString(strings.TrimSpace(string(data)))
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%s.pub must hold a 64-hex-character ed25519 public key", AuditKeyFile)
	}
	return pub, nil
}

// AuditDir and RecordingsDir are where the audit log and the recordings live.
func AuditDir(dataDir string) string      { return filepath.Join(dataDir, "audit") }
func RecordingsDir(dataDir string) string { return filepath.Join(dataDir, "recordings") }

// openAudit opens the audit log and the session tracker.
func (a *App) openAudit(ctx context.Context) error {
	cfg := a.Config()
	key, err := LoadOrCreateAuditKey(a.DataDir)
	if err != nil {
		return err
	}
	var sinks []audit.Sink
	if cfg.SyslogAddress != "" {
		network, addr, _ := strings.Cut(cfg.SyslogAddress, "://")
		if network == "unix" {
			network = "unixgram"
		}
		facility := config.SyslogFacilities[cfg.SyslogFacility]
		var sink audit.SyslogSink
		if cfg.SyslogFormat == "bastion" {
			// The Bastion's lines, sent as its Perl does (no "[pid]" after the tag).
			w, err := audit.DialSyslog(network, addr, facility, cfg.SyslogDescription, nil)
			if err != nil {
				return err
			}
			bf := audit.NewBastionSyslog(Version)
			sink = audit.SyslogSink{W: w, Bastion: &bf}
		} else {
			w, err := syslog.Dial(network, addr, syslog.LOG_INFO|syslog.Priority(facility<<3), cfg.SyslogDescription)
			if err != nil {
				return fmt.Errorf("syslog %s: %w", cfg.SyslogAddress, err)
			}
			sink = audit.SyslogSink{W: w}
		}
		sinks = append(sinks, sink)
	}
	sinks = append(sinks, &a.ops) // the last signed seq, for /metrics
	a.Audit, err = audit.Open(audit.Options{Dir: AuditDir(a.DataDir), Key: key, CheckpointEvery: cfg.AuditCheckpointEvery,
		Sinks: sinks, Logger: a.log, OnFailure: a.auditFailing, OnRecover: a.auditRecovered, Node: a.auditNode()})
	if err != nil {
		return fmt.Errorf("open audit log: %w (check it with: gatehouse audit verify --data-dir %s)", err, a.DataDir)
	}
	a.Metrics.RegisterAudit(
		func() float64 { return float64(a.Audit.Failures()) },
		func() float64 {
			if a.Audit.Healthy() != nil {
				return 0
			}
			return 1
		})
	truncated := prometheus.NewCounter(prometheus.CounterOpts{Name: "gatehouse_recordings_truncated_total",
		Help: "Recordings that reached recordingMaxBytes and stopped (their sessions went on)."})
	a.Metrics.Registry.MustRegister(truncated)
	a.Tracker = &sessionlog.Tracker{Store: a.Store, Audit: a.Audit, Dir: RecordingsDir(a.DataDir),
		Policy: func() sessionlog.Policy { return recordingPolicy(a.Config()) }, Log: a.log, Now: a.opts.Clock.Now,
		OnRecordingBytes: func(n int64) { a.Metrics.RecordingBytes.Add(float64(n)) },
		OnRecordingError: func() { a.Metrics.RecordingErrors.Inc() },
		OnRecordingLimit: truncated.Inc}
	if err := a.openCompactor(); err != nil {
		return err
	}
	return a.Tracker.Interrupted(ctx)
}

// recordingPolicy is how the configuration in force says to record; read at each session's
// start, so a reload applies to the sessions that start after it.
func recordingPolicy(cfg *config.Config) sessionlog.Policy {
	p := sessionlog.Policy{Format: record.Gatehouse, MaxBytes: cfg.RecordingMaxBytes, TransferContent: cfg.TransferRecording == "full"}
	if f, err := record.ParseFormat(cfg.RecordingFormat); err == nil { // validated at load
		p.Format = f
	}
	if cfg.TtyrecStealthStdoutPattern != "" {
		// Validated at load; a pattern that does not compile records everything (fail closed).
		p.Stealth, _ = regexp.Compile(cfg.TtyrecStealthStdoutPattern)
	}
	return p
}

// auditEvent appends one event; the log itself logs and counts a failure
// (gatehouse_audit_write_failures_total). Callers whose action has not happened yet refuse it;
// the others (the end of a session, a command that already ran) can only report it.
func (a *App) auditEvent(typ string, f audit.Fields) error {
	return a.Audit.Append(audit.Event{Type: typ, Fields: f})
}

// AuditRetryEvery is how often a failing audit log tries to resume by itself (it also tries at
// each event); a full disk that gets room again is back within this long.
const AuditRetryEvery = time.Second

// auditFailing and auditRecovered are told when the audit log stops and resumes accepting events:
// an error log line, an alert to the administrators, and /healthz answers 503 meanwhile.
func (a *App) auditFailing(err error) {
	a.log.Error("AUDIT LOG FAILING: sessions and state-changing commands are refused until it can be written", "err", err)
	if a.Notify != nil {
		a.Notify.AuditLog(false, err.Error())
	}
}

func (a *App) auditRecovered(what string) {
	a.log.Warn("audit log recovered", "what", what)
	if a.Notify != nil {
		a.Notify.AuditLog(true, what)
	}
}

// auditGate decides whether an action may start while the audit log is in the state auditErr
// (nil: it accepts events). Nothing that changes state or reaches a server runs unless it can be
// audited: a connection (cmd "") and a command that changes state are refused while the log
// fails; a read-only command still answers, so an admin can look around.
func auditGate(cmd string, auditErr error) *refusal.Refusal {
	if auditErr == nil || (cmd != "" && !changes(cmd)) {
		return nil
	}
	return refusal.AuditUnavailable()
}

// guardWithAudit puts auditGate in front of the setup gate, which the dispatcher consults before
// every command (cmd set) and every connection (cmd nil). A failing log is retried first, so a
// disk that has room again lets the action through at once.
func (a *App) guardWithAudit() {
	next := a.Env.Hooks.SetupGate
	a.Env.Hooks.SetupGate = func(ctx context.Context, s *osh.Session, cmd *session.CommandInfo) *refusal.Refusal {
		name := ""
		if cmd != nil {
			name = cmd.Name
		}
		var err error
		if a.Audit.Healthy() != nil {
			err = a.Audit.Retry()
		}
		if r := auditGate(name, err); r != nil {
			a.log.Warn("refused while the audit log fails", "account", s.Account.Name, "command", name, "err", err)
			return r
		}
		if next == nil {
			return nil
		}
		return next(ctx, s, cmd)
	}
}

// observeConnection writes connection events to the audit log and the metrics; its error is
// the log's (the connector refuses a connection whose open it cannot record).
func (a *App) observeConnection(ctx context.Context, ev connect.Event) error {
	typ, f := ev.Type, ev.Fields
	if typ == "hostkey" {
		typ = "hostkey." + labelOrNil(f.Extra["event"])
	}
	if typ == "connection.close" {
		a.Metrics.RelayedBytes.WithLabelValues("out").Add(float64(f.BytesOut))
		a.Metrics.RelayedBytes.WithLabelValues("in").Add(float64(f.BytesIn))
	}
	if typ == "connection.denied" {
		a.Metrics.AccessDenied.Inc()
	}
	e := audit.Event{Type: typ, Fields: f}
	a.Notify.ConnectionEvent(e)
	return a.appendAudit(ctx, e)
}

// commandDone audits every --osh command with its options (secrets masked) and result code.
func (a *App) commandDone(ctx context.Context, s *osh.Session, cmd string, args []string, r osh.Result) {
	typ := "osh.command"
	if r.Success() && changes(cmd) {
		switch {
		case strings.HasPrefix(cmd, "group"):
			typ = "group.change"
		case strings.HasPrefix(cmd, "account"), strings.HasPrefix(cmd, "self"):
			typ = "account.change"
		}
	}
	a.Metrics.Commands.WithLabelValues(resultClass(r.Code)).Inc()
	a.Notify.CommandDone(s.Account.Name, netaddr.IP(s.RemoteAddr), cmd, audit.MaskArgs(args), r.Code)
	err := a.auditEvent(typ, audit.Fields{UniqID: s.ID, Account: s.Account.Name, CmdType: "osh", Plugin: cmd,
		Params: audit.MaskArgs(args), Result: r.Code, Allowed: audit.Bool(r.Code != "KO_RESTRICTED_COMMAND"),
		IPFrom: netaddr.IP(s.RemoteAddr), PortFrom: netaddr.Port(s.RemoteAddr), IPBastion: netaddr.IP(s.LocalAddr),
		PortBastion: netaddr.Port(s.LocalAddr), ExitStatus: audit.Int(r.ExitCode())})
	if err != nil && r.Success() && changes(cmd) && s.Err != nil {
		// The change is made (the audit gate let it start while the log was writable); say it
		// is not in the audit log rather than let it pass as audited. The log counted it and
		// the audit_log alert went out.
		fmt.Fprintf(s.Err, "WARNING: %s was done but could not be written to the audit log; the administrators are alerted.\n", cmd)
	}
}

// changes reports whether a command modifies state (its name says it: not a list or info).
func changes(cmd string) bool {
	for _, ro := range []string{"List", "Info", "help", "info", "whoHasAccessTo", "PlaySession"} {
		if strings.Contains(cmd, ro) {
			return false
		}
	}
	return true
}

func resultClass(code string) string {
	switch {
	case strings.HasPrefix(code, "OK"):
		return "ok"
	case strings.HasPrefix(code, "KO"):
		return "refused"
	}
	return "error"
}

// authEvent audits each authentication attempt by method and result.
func (a *App) authEvent(conn ssh.ConnMetadata, method string, err error) {
	result := "ok"
	if err != nil {
		result = "fail"
		var partial *ssh.PartialSuccessError
		if errors.As(err, &partial) {
			result = "partial"
		}
	}
	a.Metrics.Auth.WithLabelValues(method, result).Inc()
	host, port := netaddr.IP(conn.RemoteAddr()), netaddr.Port(conn.RemoteAddr())
	if result == "ok" {
		a.Notify.LoginSucceeded(conn.User(), host)
	}
	// Behind a PROXY-protocol balancer, ip_from is the client and ip_balancer/port_balancer the balancer.
	_ = a.auditEvent("auth", audit.Fields{Account: conn.User(), Factor: method, Result: result, IPFrom: host, PortFrom: port,
		Extra: netaddr.ViaFields(conn.RemoteAddr())})
}
