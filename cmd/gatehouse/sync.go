package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"gatehouse/internal/app"
	"gatehouse/internal/keysync"
)

// syncCmd is `gatehouse sync`: one run of every [[sync.source]] now. With --dry-run it prints
// what would change and changes nothing (it reads only the configuration and the store, so it
// is safe next to a running server). A real run needs the data directory's sync lock: while
// `gatehouse serve` holds it, the run is the server's to make (it syncs every interval; SIGUSR1
// asks it for a run now).
func syncCmd(args []string, stdout, stderr io.Writer) error {
	fs, o := syncFlags(stderr)
	dataDir, configFile, dryRun, force := &o.dataDir, &o.configFile, &o.dryRun, &o.force
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("sync takes no arguments (got %q)", fs.Args())
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *dryRun {
		results, err := app.SyncPlan(ctx, *dataDir, *configFile, *force)
		if err != nil {
			return err
		}
		printResults(stdout, results, true)
		return resultsErr(results)
	}
	unlock, holder, err := app.LockSync(*dataDir)
	if err != nil {
		if holder > 0 {
			return fmt.Errorf("%w: gatehouse serve syncs by itself every interval; to sync now: kill -USR1 %d (or use --dry-run to see the diff)", err, holder)
		}
		return err
	}
	defer unlock()
	a, err := app.Open(ctx, app.Options{DataDir: *dataDir, ConfigFile: *configFile, Log: logger(stderr)})
	if err != nil {
		return err
	}
	defer func() {
		if err := a.Close(); err != nil { // the audit log's last lines: never dropped in silence
			fmt.Fprintf(stderr, "gatehouse sync: closing: %v\n", err)
		}
	}()
	if len(a.Config().Sync.Sources) == 0 {
		return errors.New("no [[sync.source]] in the configuration: nothing to sync")
	}
	results := a.Sync.RunOnce(ctx, keysync.Options{Force: *force})
	printResults(stdout, results, false)
	return resultsErr(results)
}

type syncOptions struct {
	dataDir, configFile string
	dryRun, force       bool
}

// syncFlags are sync's options, for the command and for its help and man page.
func syncFlags(stderr io.Writer) (*flag.FlagSet, *syncOptions) {
	o := &syncOptions{}
	fs := flag.NewFlagSet("sync", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.dataDir, "data-dir", defaultDataDir(), "data directory (store, keys, logs); $GATEHOUSE_DATA_DIR")
	fs.StringVar(&o.configFile, "config", "", "configuration file (TOML); default DATA-DIR/gatehouse.toml if present")
	fs.BoolVar(&o.dryRun, "dry-run", false, "print what would change, change nothing")
	fs.BoolVar(&o.force, "force", false, "apply even if more than maxRemoveShare of a source's accounts would be frozen")
	return fs, o
}

func printResults(w io.Writer, results []keysync.Result, dryRun bool) {
	for _, r := range results {
		p := r.Plan
		switch {
		case p.Refused():
			fmt.Fprintf(w, "source %s: REFUSED, nothing changed: %s\n", p.Source, p.Reason)
		case dryRun:
			fmt.Fprintf(w, "source %s: %d change(s) would be made (dry run, nothing changed)\n", p.Source, len(p.Changes))
		default:
			fmt.Fprintf(w, "source %s: %d of %d change(s) made\n", p.Source, len(r.Applied), len(p.Changes))
		}
		if p.Verdict != keysync.RefusedFetch {
			for _, c := range p.Changes {
				fmt.Fprintln(w, "  "+strings.ReplaceAll(c.String(), "\n", "\n  "))
			}
		}
		for _, s := range p.Skipped {
			fmt.Fprintln(w, "  left alone: "+s)
		}
		if r.Err != nil && !p.Refused() {
			fmt.Fprintf(w, "  stopped: %v\n", r.Err)
		}
	}
}

// resultsErr makes the exit status say whether every source ran.
func resultsErr(results []keysync.Result) error {
	for _, r := range results {
		if r.Plan.Refused() || r.Err != nil {
			return errors.New("at least one source was refused or failed (see above)")
		}
	}
	return nil
}
