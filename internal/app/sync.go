package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"gatehouse/internal/audit"
	"gatehouse/internal/config"
	"gatehouse/internal/keysync"
	"gatehouse/internal/osh"
	"gatehouse/internal/osh/cmd/common"
	"gatehouse/internal/store"
	"gatehouse/internal/store/sqlite"
)

// SyncLockFile is held (flock) by the server's sync loop and by `gatehouse sync`, and holds the
// holder's pid: two processes appending to one audit log would break its chain.
const SyncLockFile = "sync.lock"

// newSyncer assembles the key sync ([sync], internal/keysync) from the app's parts.
func (a *App) newSyncer() *keysync.Syncer {
	return &keysync.Syncer{
		Store: a.Store, Config: a.Config, Now: a.opts.Clock.Now, Log: a.log,
		AppendAudit: a.appendAudit,
		Alert:       a.Notify.SyncRefused,
		AccountCreated: func(ctx context.Context, name string) error {
			cfg := a.Config()
			_, err := common.StoreNewEgressKey(ctx, a.Store, a.Env.Sealer, "account", name,
				cfg.DefaultAccountEgressKeyAlgorithm, cfg.DefaultAccountEgressKeySize, a.opts.Clock.Now())
			return err
		},
		Frozen: func(ctx context.Context, acc store.Account, reason string) {
			ids := a.Env.Running.End(acc.ID, "Your account has been frozen ("+reason+")", osh.ExitFrozen)
			if len(ids) > 0 {
				// After the fact (the sessions ended): a failure is counted and alerted by the log.
				_ = a.appendAudit(ctx, audit.Event{Type: "account.sessions_ended", Fields: audit.Fields{Account: acc.Name,
					Extra: map[string]string{"account_id": acc.ID, "by": "sync", "reason": reason,
						"sessions": fmt.Sprint(ids), "count": strconv.Itoa(len(ids))}}})
			}
		},
		Metrics: keysync.NewMetrics(a.Metrics.Registry),
		Trigger: make(chan struct{}, 1),
	}
}

// startSync starts the sync loop; stopSync (from Close) ends it and waits, so that its lock is
// released when Close returns.
func (a *App) startSync(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.runSync(ctx)
	}()
	a.syncStop = func() { cancel(); <-done }
}

func (a *App) stopSync() {
	if a.syncStop != nil {
		a.syncStop()
	}
}

// runSync runs the key sync at start, each interval and on SyncNow, while ctx lasts, holding
// the data directory's sync lock. Without the lock (a `gatehouse sync` is running) it waits.
func (a *App) runSync(ctx context.Context) {
	for {
		unlock, _, err := LockSync(a.DataDir)
		if err == nil {
			defer unlock()
			a.Sync.Run(ctx, nil)
			return
		}
		a.log.Warn("key sync waits for the sync lock", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(10 * time.Second):
		}
	}
}

// SyncNow asks the running sync loop for a run now (SIGUSR1).
func (a *App) SyncNow() {
	select {
	case a.Sync.Trigger <- struct{}{}:
	default:
	}
}

// LockSync takes the data directory's sync lock, writing our pid into it. When another process
// holds it, err says so and holder is its pid (0 when unknown).
func LockSync(dataDir string) (unlock func(), holder int, err error) {
	path := filepath.Join(dataDir, SyncLockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, 0, fmt.Errorf("sync lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		data := make([]byte, 32)
		n, _ := f.ReadAt(data, 0)
		_ = f.Close() // read only; the lock error is the one to report
		holder, _ = strconv.Atoi(strings.TrimSpace(string(data[:n])))
		return nil, holder, fmt.Errorf("another gatehouse (pid %d) holds %s", holder, path)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return func() { _ = f.Close() }, 0, nil // unlocking: the lock ends with the descriptor whatever Close says
}

// SyncPlan is `gatehouse sync --dry-run`: it reads the configuration and the store (nothing
// else of the data directory: no audit log, no keys) and returns what a run would do.
func SyncPlan(ctx context.Context, dataDir, configFile string, force bool) ([]keysync.Result, error) {
	if configFile == "" {
		if p := filepath.Join(dataDir, "gatehouse.toml"); fileExists(p) {
			configFile = p
		}
	}
	cfg := config.Default()
	if configFile != "" {
		var err error
		if cfg, err = config.Load(configFile); err != nil {
			return nil, err
		}
	}
	if len(cfg.Sync.Sources) == 0 {
		return nil, errors.New("no [[sync.source]] in the configuration: nothing to sync")
	}
	dbPath := filepath.Join(dataDir, "gatehouse.db")
	if !fileExists(dbPath) {
		return nil, fmt.Errorf("no store in %s (run gatehouse init first)", dataDir)
	}
	st, err := sqlite.Open(ctx, dbPath)
	if err != nil {
		return nil, err
	}
	defer func() { _ = st.Close() }() // a dry run wrote nothing
	s := &keysync.Syncer{Store: st, Config: func() *config.Config { return &cfg }, Now: time.Now}
	return s.RunOnce(ctx, keysync.Options{DryRun: true, Force: force}), nil
}
