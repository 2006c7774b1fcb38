package app

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/ssh"

	"gatehouse/internal/audit"
	"gatehouse/internal/ingress"
	"gatehouse/internal/osh"
	"gatehouse/internal/seal"
	"gatehouse/internal/store"
	"gatehouse/internal/store/postgres"
	"gatehouse/internal/store/sqlite"
)

// Seal purposes of what the cluster keeps in the store.
const (
	purposeHostKey   = "ssh-host-key"
	purposeSealCheck = "seal-check"
)

// storeDSN is the store this node uses: --store, else the configuration's store, else "" (the
// SQLite file in the data directory).
func (a *App) storeDSN() string {
	if a.opts.Store != "" {
		return a.opts.Store
	}
	return a.Config().Store
}

// NodeName is this node's name in a cluster: --node, the configuration's node, else the host name.
func (a *App) NodeName() string {
	if a.opts.Node != "" {
		return a.opts.Node
	}
	if n := a.Config().Node; n != "" {
		return n
	}
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "gatehouse"
	}
	return h
}

// openStore opens the SQLite file, or connects to the shared PostgreSQL and checks that this
// node holds the seal key the cluster's secrets are sealed with.
func (a *App) openStore(ctx context.Context, sealer *seal.Sealer) (store.Store, error) {
	dsn := a.storeDSN()
	if dsn == "" {
		return sqlite.Open(ctx, filepath.Join(a.DataDir, "gatehouse.db"))
	}
	if !postgres.IsDSN(dsn) {
		return nil, errors.New("--store must be a postgres://… URL (without it, the SQLite file in the data directory)")
	}
	st, err := postgres.OpenNode(ctx, dsn, a.NodeName())
	if err != nil {
		return nil, err
	}
	if err := checkSealKey(ctx, st, sealer); err != nil {
		_ = st.Close() // the seal key error is the one to report
		return nil, err
	}
	return st, nil
}

// checkSealKey refuses a node whose seal key is not the cluster's: it could not open the
// egress keys, TOTP secrets and host keys the other nodes sealed, and what it sealed the others
// could not open. The first node to start leaves a sealed canary that the others open.
func checkSealKey(ctx context.Context, st store.Store, sealer *seal.Sealer) error {
	const canary = "gatehouse seal key check"
	sealed, err := st.MFASecret(ctx, "cluster_seal_check", func() ([]byte, error) {
		return sealer.Seal(purposeSealCheck, []byte(canary))
	})
	if err != nil {
		return fmt.Errorf("seal key check: %w", err)
	}
	plain, err := sealer.Open(purposeSealCheck, sealed)
	if err != nil || subtle.ConstantTimeCompare(plain, []byte(canary)) != 1 {
		return errors.New("this node's seal key is not the one the shared store's secrets are sealed with: " +
			"give every node the same key (copy DATA_DIR/seal.key from the first node, or set $GATEHOUSE_SEAL_KEY)")
	}
	return nil
}

// hostKeys are the SSH host keys: files in the data directory for the single node (as before),
// and for a shared store one set sealed in the store, so that every node shows clients the
// same bastion. The first node to start stores its keys (the ones in its data directory when
// it has some, so a node moved onto PostgreSQL keeps its identity); the others load them.
func (a *App) hostKeys(ctx context.Context, st store.Store, sealer *seal.Sealer) ([]ssh.Signer, error) {
	if _, shared := st.(*postgres.Store); !shared {
		return ingress.LoadOrCreateHostKeys(a.DataDir)
	}
	var out []ssh.Signer
	for _, kind := range ingress.HostKeyKinds {
		name := "ssh_host_" + kind + "_key"
		// MFASecret is get-or-create with one winner: nodes starting together agree.
		sealed, err := st.MFASecret(ctx, name, func() ([]byte, error) {
			data, err := os.ReadFile(filepath.Join(a.DataDir, name))
			if errors.Is(err, os.ErrNotExist) {
				data, _, err = ingress.NewHostKeyPEM(kind)
			}
			if err != nil {
				return nil, err
			}
			return sealer.Seal(purposeHostKey, data)
		})
		if err != nil {
			return nil, fmt.Errorf("host key %s in the store: %w", kind, err)
		}
		data, err := sealer.Open(purposeHostKey, sealed)
		if err != nil {
			return nil, fmt.Errorf("host key %s in the store: %w", kind, err)
		}
		signer, err := ssh.ParsePrivateKey(data)
		if err != nil {
			return nil, fmt.Errorf("host key %s in the store does not parse: %w", kind, err)
		}
		out = append(out, signer)
	}
	return out, nil
}

// bootstrapper is a store that can serialise the first start of several nodes.
type bootstrapper interface {
	Bootstrap(ctx context.Context, fn func(context.Context) error) error
}

// underBootstrapLock runs fn alone among the nodes sharing the store (a PostgreSQL advisory
// lock), so that two nodes started together on an empty database create one first admin.
func underBootstrapLock(ctx context.Context, st store.Store, fn func(context.Context) error) error {
	if b, ok := st.(bootstrapper); ok {
		return b.Bootstrap(ctx, fn)
	}
	return fn(ctx)
}

// sessionChannel carries the session controls between the nodes of a cluster.
const sessionChannel = "gatehouse_sessions"

// sessionEvent is one session control a node sends the others: end an account identity's
// sessions (freeze, delete), or lock/unlock an account's relayed sessions.
type sessionEvent struct {
	Node      string `json:"node"`
	Op        string `json:"op"` // "end", "lock", "unlock"
	AccountID string `json:"account_id,omitempty"`
	Account   string `json:"account,omitempty"`
	Reason    string `json:"reason,omitempty"`
	Exit      int    `json:"exit,omitempty"`
	// Version is a lock/unlock's version in the store (store.SessionLocks), 0 when it could not
	// be stored: a node that applies it need not replay it after a reconnection.
	Version int64 `json:"version,omitempty"`
}

// clusterState is what the node knows of the cluster's session controls.
type clusterState struct {
	listening                            atomic.Bool
	sent, sendFailed, received, rechecks atomic.Uint64
	locks                                lockVersions // cluster_locks.go
}

// ClusterListening reports whether this node receives the other nodes' session controls
// (always false on the single-node SQLite store).
func (a *App) ClusterListening() bool { return a.cluster.listening.Load() }

type localRunning interface {
	End(accountID, reason string, exit int) []string
	Accounts() []string
}

// RecheckVerdict is what a session running on this node must become when the controls of the
// other nodes may have been missed: found says whether its account identity is still in the
// store (a deleted account, or one recreated under its name, is not). Pure, tested as a table.
func RecheckVerdict(acc store.Account, found bool) (end bool, reason string, exit int) {
	switch {
	case !found:
		return true, "Your account has been deleted", osh.ExitInactive
	case acc.Frozen:
		reason = "Your account has been frozen"
		if acc.FrozenReason != "" {
			reason += " (" + acc.FrozenReason + ")"
		}
		return true, reason, osh.ExitFrozen
	}
	return false, "", 0
}

// recheckRunning checks every account with sessions running here against the store (one query)
// and ends the sessions of those frozen or deleted meanwhile. A store that does not answer ends
// nothing: the next reconnection checks again.
func (a *App) recheckRunning(ctx context.Context, running localRunning) {
	ids := running.Accounts()
	if len(ids) == 0 {
		return
	}
	accs, err := a.Store.ListAccounts(ctx)
	if err != nil {
		a.log.Error("cannot check the running sessions against the store", "err", err)
		return
	}
	byID := make(map[string]store.Account, len(accs))
	for _, acc := range accs {
		byID[acc.ID] = acc
	}
	for _, id := range ids {
		acc, found := byID[id]
		end, reason, exit := RecheckVerdict(acc, found)
		if !end {
			continue
		}
		if ended := running.End(id, reason, exit); len(ended) > 0 {
			a.log.Warn("sessions ended on a re-check after the cluster connection came back", "account_id", id, "account", acc.Name, "reason", reason, "sessions", ended)
			// After the fact (the sessions ended): a failure is counted and alerted by the log.
			_ = a.appendAudit(ctx, audit.Event{Type: "account.sessions_ended", Fields: audit.Fields{Account: acc.Name,
				Extra: map[string]string{"account_id": id, "by": "cluster-recheck", "reason": reason,
					"sessions": fmt.Sprint(ended), "count": strconv.Itoa(len(ended))}}})
		}
	}
}

type localLocks interface {
	Set(account string, locked bool) int
}

// clusterRunning ends the sessions on this node, and tells the other nodes to end theirs.
type clusterRunning struct {
	a     *App
	local localRunning
}

func (r clusterRunning) End(accountID, reason string, exit int) []string {
	ids := r.local.End(accountID, reason, exit)
	r.a.publishSessionEvent(sessionEvent{Op: "end", AccountID: accountID, Reason: reason, Exit: exit})
	return ids
}

// clusterLocks locks the relayed sessions on this node and tells the other nodes to lock theirs.
type clusterLocks struct {
	a     *App
	local localLocks
}

func (l clusterLocks) Set(account string, locked bool) int {
	n := l.local.Set(account, locked)
	op := map[bool]string{true: "lock", false: "unlock"}[locked]
	// Stored first, so that a node whose LISTEN connection is down replays it (cluster_locks.go).
	version := l.a.storeSessionLock(account, locked)
	l.a.publishSessionEvent(sessionEvent{Op: op, Account: account, Version: version})
	return n
}

// shareSessionControl makes freeze, delete, lock and unlock reach the sessions of every node
// when the store is shared; with SQLite there is one node and nothing changes.
func (a *App) shareSessionControl(running localRunning) {
	if _, shared := a.Store.(*postgres.Store); !shared {
		return
	}
	a.Env.Running = clusterRunning{a: a, local: running}
	a.Server.SharedPenalties = true // a source penalized on one node is refused by the others
	if a.Env.SessionLocks != nil {
		a.Env.SessionLocks = clusterLocks{a: a, local: a.Env.SessionLocks}
	}
	a.registerClusterMetrics()
}

// registerClusterMetrics exposes the shared store's connection pool and the session controls
// exchanged with the other nodes (a failed send means sessions elsewhere were not told).
func (a *App) registerClusterMetrics() {
	pg, ok := a.Store.(*postgres.Store)
	if !ok || a.Metrics == nil {
		return
	}
	counter := func(name, help string, v *atomic.Uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(v.Load()) })
	}
	a.Metrics.Registry.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gatehouse_store_connections_open",
			Help: "Connections to the PostgreSQL store open in the pool."}, func() float64 { return float64(pg.Pool().Stat().TotalConns()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gatehouse_store_connections_in_use",
			Help: "Connections to the PostgreSQL store in use now."}, func() float64 { return float64(pg.Pool().Stat().AcquiredConns()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gatehouse_cluster_listening",
			Help: "1 while this node receives the other nodes' session controls (freeze, delete, lock)."}, func() float64 {
			if a.cluster.listening.Load() {
				return 1
			}
			return 0
		}),
		counter("gatehouse_cluster_session_controls_sent_total", "Session controls (end, lock, unlock) sent to the other nodes.", &a.cluster.sent),
		counter("gatehouse_cluster_session_controls_send_failures_total", "Session controls that could not be sent: sessions on other nodes were not told.", &a.cluster.sendFailed),
		counter("gatehouse_cluster_session_controls_received_total", "Session controls received from the other nodes and applied here.", &a.cluster.received),
		counter("gatehouse_cluster_session_rechecks_total", "Re-checks of the running sessions against the store after the session-control connection came back.", &a.cluster.rechecks),
		counter("gatehouse_cluster_session_locks_replayed_total", "Locks and unlocks this node missed and applied from the store after the session-control connection came back.", &a.cluster.locks.replayed),
	)
}

func (a *App) publishSessionEvent(ev sessionEvent) {
	pg, ok := a.Store.(*postgres.Store)
	if !ok {
		return
	}
	ev.Node = a.NodeName()
	payload, err := json.Marshal(ev)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := pg.Publish(ctx, sessionChannel, string(payload)); err != nil {
		a.cluster.sendFailed.Add(1)
		// The decision is in the store (new logins are refused everywhere); the sessions
		// running on the other nodes are not told. Said loudly, for the operator.
		a.log.Error("cannot tell the other nodes to "+ev.Op+" sessions", "account", ev.Account, "account_id", ev.AccountID, "err", err)
		return
	}
	a.cluster.sent.Add(1)
}

// listenSessionControl applies the other nodes' session controls to this node's sessions until
// ctx ends.
func (a *App) listenSessionControl(ctx context.Context) {
	pg, ok := a.Store.(*postgres.Store)
	cr, ok2 := a.Env.Running.(clusterRunning)
	if !ok || !ok2 {
		return
	}
	running := cr.local
	var locks localLocks
	if cl, ok := a.Env.SessionLocks.(clusterLocks); ok {
		locks = cl.local
	}
	me := a.NodeName()
	var connected atomic.Int64
	ready := func() {
		a.cluster.listening.Store(true)
		if connected.Add(1) > 1 {
			// Controls sent while the LISTEN connection was down are lost: every session running
			// here is checked against the store again.
			a.cluster.rechecks.Add(1)
			go a.recheckRunning(ctx, running)
			go a.replaySessionLocks(ctx, locks)
		}
	}
	lost := func(err error) {
		a.cluster.listening.Store(false)
		a.log.Warn("the connection that receives the other nodes' session controls was lost; running sessions are checked again once it is back", "err", err)
	}
	err := pg.Listen(ctx, sessionChannel, ready, lost, func(payload string) {
		ev, ok := parseSessionEvent(payload, me)
		if !ok {
			return
		}
		a.cluster.received.Add(1)
		switch ev.Op {
		case "end":
			if ids := running.End(ev.AccountID, ev.Reason, ev.Exit); len(ids) > 0 {
				a.log.Info("sessions ended on another node's request", "node", ev.Node, "account_id", ev.AccountID, "sessions", ids)
			}
		case "lock", "unlock":
			if locks != nil {
				a.cluster.locks.apply(ev.Account, ev.Version, func() { locks.Set(ev.Account, ev.Op == "lock") })
			}
		}
	})
	a.cluster.listening.Store(false)
	if err != nil && ctx.Err() == nil {
		a.log.Error("session controls from the other nodes stopped", "err", err)
	}
}

// parseSessionEvent decodes a session control another node sent; ok is false for this node's
// own (already applied), for anything malformed, and for an "end" without an account identity
// (it could not be told apart from another account).
func parseSessionEvent(payload, me string) (ev sessionEvent, ok bool) {
	if len(payload) > 8000 { // pg_notify's limit: anything longer did not come from a node
		return ev, false
	}
	if err := json.Unmarshal([]byte(payload), &ev); err != nil || ev.Node == "" || ev.Node == me || ev.Version < 0 {
		return ev, false
	}
	switch ev.Op {
	case "end":
		return ev, ev.AccountID != ""
	case "lock", "unlock":
		return ev, ev.Account != ""
	}
	return ev, false
}
