package app

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"gatehouse/internal/console"
	"gatehouse/internal/osh"
	"gatehouse/internal/record"
	"gatehouse/internal/store"
)

// openConsole prepares the web console when [web] listen is set, and gives webLogin its hook.
func (a *App) openConsole() error {
	if a.Config().Web.Listen == "" {
		return nil
	}
	// A missing key leaves the Audit page saying it cannot verify, rather than the console off.
	pub, err := ReadAuditPublicKey(filepath.Join(a.DataDir, AuditKeyFile+".pub"))
	if err != nil {
		a.log.Warn("web console: no audit public key; the Audit page cannot verify", "err", err)
	}
	var live *console.Live
	if a.Server.Tracker != nil {
		live = &console.Live{Inner: a.Server.Tracker, Tell: func() bool { return !a.Config().Web.WatchSilently },
			Stealth: func(line string) bool {
				req, _ := osh.ParseLine(line)
				return req.HasTarget() && record.StealthMatch(a.Tracker.Policy().Stealth, req.Command())
			}}
		a.Server.Tracker = live
	}
	c, err := console.New(console.Options{Live: live, Store: a.Store, Config: a.Config, DataDir: a.DataDir, Log: a.log, AppendAudit: a.appendAudit,
		AuditLog: console.AuditSource{Dir: AuditDir(a.DataDir), Pub: pub}, Approvals: a.Notify.Manager(),
		// The archive opens after the console: read at each request, as selfPlaySession reads it.
		Archived: func(ctx context.Context, s store.Session) (*os.File, error) {
			if a.Env.Archived == nil {
				return nil, os.ErrNotExist
			}
			return a.Env.Archived(ctx, s)
		}})
	if err != nil {
		return err
	}
	a.Console = c
	a.Env.Hooks.WebLogin = func(ctx context.Context, acc store.Account, factors []string) (string, string, error) {
		u, err := c.IssueLogin(ctx, acc, factors)
		return u, c.Fingerprint, err
	}
	return nil
}

// serveConsole listens for the web console (when configured) and serves it until ctx ends.
func (a *App) serveConsole(ctx context.Context) error {
	if a.Console == nil {
		return nil
	}
	ln, err := a.Console.Listen()
	if err != nil {
		return err
	}
	a.WebAddr = ln.Addr().String()
	if a.Console.Fingerprint != "" {
		a.log.Info("web console", "listen", a.WebAddr, "sha256", a.Console.Fingerprint)
	}
	go func() {
		if err := a.Console.Serve(ctx, ln); err != nil {
			a.log.Error("web console stopped", "err", fmt.Errorf("console: %w", err))
		}
	}()
	return nil
}
