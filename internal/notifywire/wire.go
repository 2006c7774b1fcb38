// Package notifywire connects the chat packages (internal/notify, internal/notify/approval) to
// gatehouse: it builds the configured channels, delivers the webhook code and approval factors
// for internal/mfaauth (it implements mfaauth.Chat), keeps approval requests in the store,
// serves the approval HTTP endpoints (Slack's interactivity URL and the signed links) on
// approvalListen, and turns audit-worthy events into alerts.
//
// Lifecycle: app calls New at start (it binds approvalListen, so the public URL of the links is
// known), sets the result as mfaauth.Auth.Chat, feeds the taps (LoginSucceeded, AuditEvent,
// ConnectionEvent, CommandDone) and runs Run until shutdown. Channels are built once: a change
// of [notify] needs a restart.
//
// Invariants:
//   - Fail closed: no channel, a channel down, an error body, a timeout — the factor is
//     "undelivered" and mfaauth refuses (or asks the configured fallback factor).
//   - Alerts never block the user's path: taps are non-blocking sends into a bounded queue,
//     dropped and counted when it is full; sending happens in Run's goroutines.
//   - Secrets (webhook URLs, signing secrets, the link key) are never logged; the link key is
//     32 random bytes sealed in the store, shared by every node using the store.
package notifywire

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gatehouse/internal/audit"
	"gatehouse/internal/config"
	"gatehouse/internal/mfa/policy"
	"gatehouse/internal/mfaauth"
	"gatehouse/internal/notify"
	"gatehouse/internal/notify/approval"
	"gatehouse/internal/seal"
	"gatehouse/internal/store"
)

// PurposeLinkKey is the seal purpose of the approval link key.
const PurposeLinkKey = "approval-link-key"

// Paths of the approval listener.
const (
	LinkPath  = "/approval/"
	SlackPath = "/slack/interactive"
)

// Options are what New needs.
type Options struct {
	Config *config.Config // the configuration at start
	Store  store.Store
	Sealer *seal.Sealer
	Log    *slog.Logger
	// AppendAudit receives approval decisions and refusals ("approval.decided",
	// "approval.refused"); nil: they are logged.
	AppendAudit audit.AppendFunc
	Now         func() time.Time
	// Client sends every message (nil: a client that follows no redirect).
	Client *http.Client
	// Console returns the web console's base URL ("" when off): the decision page of approval
	// requests posted to link channels bound to nobody.
	Console func() string
}

// Wire is gatehouse's chat side.
type Wire struct {
	n           config.Notify
	bastion     string
	log         *slog.Logger
	appendAudit audit.AppendFunc
	now         func() time.Time
	st          store.Store
	senders     map[string]notify.Sender
	fallback    policy.Fallback
	delivery    notify.Delivery

	manager *approval.Manager
	links   *approval.LinkSigner // nil without approvalListen
	slack   *approval.SlackHandler
	ln      net.Listener
	baseURL string

	client   *http.Client
	alerters []*notify.Alerter // one per alert channel
	alertsOn bool
	failures *notify.FailureCounter
	taps     chan tap
	tapDrops atomic.Uint64

	closeOnce sync.Once
}

var _ mfaauth.Chat = (*Wire)(nil)

// New builds the channels and the approval manager and binds approvalListen.
func New(ctx context.Context, o Options) (*Wire, error) {
	cfg := o.Config
	w := &Wire{n: cfg.Notify, bastion: cfg.BastionName, log: o.Log, appendAudit: o.AppendAudit, now: o.Now, st: o.Store,
		senders: map[string]notify.Sender{}, taps: make(chan tap, 1024)}
	if w.log == nil {
		w.log = slog.Default()
	}
	if w.now == nil {
		w.now = time.Now
	}
	client := o.Client
	if client == nil {
		client = newClient()
	}
	w.client = client
	for name, c := range cfg.Notify.Channels {
		s, err := NewSender(name, c, client)
		if err != nil {
			return nil, fmt.Errorf("notify channel %s: %w", name, err)
		}
		w.senders[name] = s
	}
	var err error
	if w.fallback, err = policy.ParseFallback(cfg.Notify.Fallback); err != nil {
		return nil, fmt.Errorf("notify fallback: %w", err)
	}
	if cfg.Notify.Delivery == "any" {
		w.delivery = notify.DeliverAny
	}
	if cfg.ApprovalListen != "" {
		if err := w.listen(ctx, cfg, o.Sealer); err != nil {
			return nil, err
		}
	}
	w.manager = approval.NewManager(approval.Config{Store: approvalStore{o.Store}, Links: w.links, Observer: observer{w}, Console: o.Console,
		Bastion: cfg.BastionName, Now: w.now, Logger: w.log})
	if secret := cfg.Notify.Approval.ResolvedSlackSigningSecret(); secret != "" {
		w.slack = &approval.SlackHandler{SigningSecret: []byte(secret), Manager: w.manager, Users: slackUsers{o.Store},
			TeamID: cfg.Notify.Approval.SlackTeamID, AppID: cfg.Notify.Approval.SlackAppID, Now: w.now, Logger: w.log}
	}
	w.newAlerter()
	return w, nil
}

// listen binds approvalListen and makes the link signer for its public URL.
func (w *Wire) listen(ctx context.Context, cfg *config.Config, sealer *seal.Sealer) error {
	if sealer == nil {
		return errors.New("approval links need the sealer (the link key is stored sealed)")
	}
	ln, err := net.Listen("tcp", cfg.ApprovalListen)
	if err != nil {
		return fmt.Errorf("approval listener %s: %w", cfg.ApprovalListen, err)
	}
	w.ln = ln
	w.baseURL = cfg.Notify.Approval.PublicURL
	if w.baseURL == "" {
		w.baseURL = "http://" + ln.Addr().String() + "/"
	}
	w.baseURL = strings.TrimSuffix(w.baseURL, "/")
	sealed, err := w.st.MFASecret(ctx, PurposeLinkKey, func() ([]byte, error) {
		k := make([]byte, 32)
		if _, err := rand.Read(k); err != nil {
			return nil, err
		}
		return sealer.Seal(PurposeLinkKey, k)
	})
	if err == nil {
		var key []byte
		if key, err = sealer.Open(PurposeLinkKey, sealed); err == nil {
			w.links, err = approval.NewLinkSigner(key, w.baseURL+LinkPath)
		}
	}
	if err != nil {
		_ = ln.Close() // the key error is the one to report
		return fmt.Errorf("approval link key: %w", err)
	}
	return nil
}

// ApprovalAddr is the approval listener's address ("" when off).
func (w *Wire) ApprovalAddr() string {
	if w.ln == nil {
		return ""
	}
	return w.ln.Addr().String()
}

// BaseURL is the public URL of the approval listener, without a trailing slash.
func (w *Wire) BaseURL() string { return w.baseURL }

// Manager is the approval manager (tests, commands).
func (w *Wire) Manager() *approval.Manager { return w.manager }

// Handler serves the approval endpoints: the signed links under LinkPath and Slack's callbacks
// at SlackPath (503 when no signing secret is configured: nothing is accepted unsigned).
func (w *Wire) Handler() http.Handler {
	mux := http.NewServeMux()
	if w.links != nil {
		mux.Handle(LinkPath, &approval.LinkHandler{Signer: w.links, Manager: w.manager, Now: w.now, Logger: w.log})
	}
	mux.HandleFunc(SlackPath, func(rw http.ResponseWriter, r *http.Request) {
		if w.slack == nil {
			http.Error(rw, "Slack approvals are not configured (slack_signing_secret)", http.StatusServiceUnavailable)
			return
		}
		w.slack.ServeHTTP(rw, r)
	})
	return mux
}

// Run serves the approval listener, sends alerts and consumes the taps until ctx ends; it
// returns once all of them have stopped.
func (w *Wire) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, al := range w.alerters {
		wg.Go(func() { al.Run(ctx) })
	}
	wg.Go(func() { w.consumeTaps(ctx) })
	var serveErr error
	if w.ln != nil {
		srv := &http.Server{Handler: w.Handler(), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
			// IdleTimeout apart from ReadTimeout (its default): a chat service that reuses its
			// connection just as a 10 s idle close happens gets EOF on a POST it will not retry.
			WriteTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 16 << 10}
		wg.Go(func() {
			<-ctx.Done()
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
		})
		if err := srv.Serve(w.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			serveErr = fmt.Errorf("approval listener: %w", err)
		}
	}
	wg.Wait()
	return serveErr
}

// CloseIdleConnections closes the connections kept open to the chat services (at most 16 per
// service, reused by the next messages; they close by themselves after 90 s idle).
func (w *Wire) CloseIdleConnections() { w.client.CloseIdleConnections() }

// Close releases the listener when Run was never called.
func (w *Wire) Close() {
	w.closeOnce.Do(func() {
		if w.ln != nil {
			_ = w.ln.Close() // closing at shutdown: nothing to do with an error
		}
	})
}

// senderList returns the senders named, skipping unknown names (validated by config).
func (w *Wire) senderList(names []string) []notify.Sender {
	out := make([]notify.Sender, 0, len(names))
	for _, n := range names {
		if s, ok := w.senders[n]; ok {
			out = append(out, s)
		}
	}
	return out
}
