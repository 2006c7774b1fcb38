// Command gatehouse is an SSH bastion in one binary. Its subcommands and their options are
// listed by `gatehouse --help` and in the man page (`gatehouse man`), both made from the table
// in help.go.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"gatehouse/internal/app"
	"gatehouse/internal/config"
	"gatehouse/internal/record"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == record.CompactChildArg {
		// gatehouse serve's compaction child (internal/record/compact_child.go): not a command.
		os.Exit(record.CompactChildMain(os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	name := args[0]
	rest := args[1:]
	switch {
	case name == "audit" && len(rest) > 0 && rest[0] == "verify":
		name, rest = "audit verify", rest[1:]
	case name == "audit" && wantsHelp(rest):
		name = "audit verify" // its only subcommand
	}
	// --help asked of a command is an answer, not an error: its help on stdout, exit 0.
	if cmd := lookupCommand(name); cmd != nil && wantsHelp(rest) {
		commandHelp(stdout, cmd)
		return 0
	}
	var err error
	switch name {
	case "serve":
		err = serve(rest, stdout, stderr)
	case "init":
		err = initCmd(rest, stdout, stderr)
	case "sync":
		err = syncCmd(rest, stdout, stderr)
	case "audit verify":
		err = auditCmd(rest, stdout, stderr)
	case "audit":
		err = errors.New("usage: gatehouse audit verify [--data-dir DIR] [--strict] [--syslog FILE] [--key FILE] [FILE …]")
	case "replay":
		err = replayCmd(rest, stdout, stderr)
	case "migrate-store":
		err = migrateStoreCmd(rest, stdout, stderr)
	case "pam-token":
		err = pamTokenCmd(rest, stdout, stderr)
	case "man":
		err = manPage(stdout)
	case "version", "--version":
		fmt.Fprintln(stdout, "gatehouse", app.Version)
	case "help", "-h", "--help", "-help":
		if len(rest) > 0 {
			if cmd := lookupCommand(strings.Join(rest, " ")); cmd != nil {
				commandHelp(stdout, cmd)
				return 0
			}
			fmt.Fprintf(stderr, "gatehouse: no command %q\n", strings.Join(rest, " "))
			return 2
		}
		usage(stdout)
	default:
		fmt.Fprintf(stderr, "gatehouse: unknown command %q\n", args[0])
		usage(stderr)
		return 2
	}
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, "gatehouse:", err)
		}
		return 1
	}
	return 0
}

// logMigration says whether the store's schema was upgraded on this start, with both versions:
// an upgrade is the moment a backup taken before it stops being readable by the old binary
// (docs/operations.md).
func logMigration(log *slog.Logger, a *app.App) {
	m, ok := a.Store.(interface{ SchemaMigration() (from, to int) })
	if !ok {
		return // a store that does not tell (PostgreSQL logs its own migrations, if any)
	}
	from, to := m.SchemaMigration()
	switch {
	case from == 0:
		log.Info("store created", "schema_version", to)
	case from < to:
		log.Info("store schema migrated", "from_version", from, "to_version", to)
	default:
		log.Debug("store schema up to date", "schema_version", to)
	}
}

func defaultDataDir() string {
	if d := os.Getenv("GATEHOUSE_DATA_DIR"); d != "" {
		return d
	}
	return "data"
}

type common struct {
	dataDir, config, admin, adminKey, listen string
	logLevel, logFormat                      string
	store, node                              string
}

func flags(name string, stderr io.Writer, withListen bool) (*flag.FlagSet, *common) {
	c := &common{}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.dataDir, "data-dir", defaultDataDir(), "data directory (store, keys, logs); $GATEHOUSE_DATA_DIR")
	fs.StringVar(&c.config, "config", "", "configuration file (TOML); default DATA-DIR/gatehouse.toml if present")
	fs.StringVar(&c.admin, "admin", "admin", "name of the first admin account, created when there is no account")
	fs.StringVar(&c.adminKey, "admin-key", "", "public key file of the first admin; without it a key pair is generated in the data directory")
	fs.StringVar(&c.store, "store", os.Getenv("GATEHOUSE_STORE"), "the store: empty for SQLite in the data directory, or postgres://… shared by several nodes (docs/cluster.md); $GATEHOUSE_STORE")
	fs.StringVar(&c.node, "node", "", "this node's name in a cluster (default from config, else the host name)")
	if withListen {
		fs.StringVar(&c.listen, "listen", "", "address to listen on (default from config: 127.0.0.1:2222)")
	}
	fs.StringVar(&c.logLevel, "log-level", "info", "least level logged: debug, info, warn or error")
	fs.StringVar(&c.logFormat, "log-format", "logfmt", "log line format on standard error: logfmt (key=value) or json")
	return fs, c
}

func initCmd(args []string, stdout, stderr io.Writer) error {
	fs, c := flags("init", stderr, false)
	if err := fs.Parse(args); err != nil {
		return err
	}
	log, err := newLogger(stderr, c.logLevel, c.logFormat)
	if err != nil {
		return err
	}
	if c.adminKey == "" {
		return errors.New("init needs --admin-key FILE (the first admin's public key); `gatehouse serve` can generate one instead")
	}
	ctx := context.Background()
	a, err := app.Open(ctx, app.Options{DataDir: c.dataDir, ConfigFile: c.config, Log: log, Store: c.store, Node: c.node})
	if err != nil {
		return err
	}
	defer func() {
		if err := a.Close(); err != nil { // the audit log's last lines: never dropped in silence
			fmt.Fprintf(stderr, "gatehouse: closing: %v\n", err)
		}
	}()
	logMigration(log, a)
	// The port first: a first start whose --listen is taken or wrong used to create the first
	// admin and its key pair, then fail; the next start found an admin and never said where its
	// key was, nor the host key fingerprints, nor how to log in.
	ln, err := a.Listen()
	if err != nil {
		return err
	}
	defer func() { _ = ln.Close() }() // Serve closes it; here for the returns before Serve
	b, err := a.CreateFirstAdmin(ctx, c.admin, c.adminKey)
	if err != nil {
		return err
	}
	if !b.Created {
		return fmt.Errorf("%s already has accounts: init only prepares a new data directory", c.dataDir)
	}
	fmt.Fprintf(stdout, "Data directory %s is ready; first admin: %s.\n", c.dataDir, b.Account)
	host, port, err := net.SplitHostPort(a.Config().Listen)
	if err != nil {
		return err
	}
	if err := printHostKeys(stdout, c.dataDir, a.Config().HostKeyAlgorithms, host, port); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Start the bastion with: gatehouse serve --data-dir %s\n", c.dataDir)
	return nil
}

// logSettings are the log's level and format: the flags when given, else the configuration
// file's logLevel and logFormat (read here, before the bastion opens, since the log must exist
// first; a file that does not load is reported by the opening itself).
func logSettings(fs *flag.FlagSet, c *common) (level, format string, levelFromFile bool) {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	level, format = c.logLevel, c.logFormat
	path := c.config
	if path == "" {
		if p := filepath.Join(c.dataDir, "gatehouse.toml"); fileExists(p) {
			path = p
		}
	}
	if path == "" {
		return level, format, !given["log-level"]
	}
	cfg, err := config.Load(path)
	if err != nil {
		return level, format, !given["log-level"]
	}
	if !given["log-level"] {
		level = cfg.LogLevel
	}
	if !given["log-format"] {
		format = cfg.LogFormat
	}
	return level, format, !given["log-level"]
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func serve(args []string, stdout, stderr io.Writer) error {
	fs, c := flags("serve", stderr, true)
	if err := fs.Parse(args); err != nil {
		return err
	}
	level, format, levelFromFile := logSettings(fs, c)
	logLevel := new(slog.LevelVar)
	log, err := newLevelLogger(stderr, logLevel, level, format)
	if err != nil {
		return err
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	// SIGHUP is caught from the start: its default action would end the process, and a reload
	// asked right after the "listening on" line must wait for the handler below, not kill it.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go func() {
		select {
		case sig := <-sigs:
			// One line, whatever the parts do next: the operator sees why it stopped.
			log.Info("shutting down", "signal", sig.String())
			stop()
		case <-ctx.Done():
		}
	}()
	// Out of descriptors, newcomers wait: raise the soft limit to the hard one first, and say
	// below what it allows.
	_, after, limErr := app.RaiseFileLimit()
	stopPprof, err := startPprof(pprofAddr(), log)
	if err != nil {
		return err
	}
	defer stopPprof()
	a, err := app.Open(ctx, app.Options{DataDir: c.dataDir, ConfigFile: c.config, Listen: c.listen, Log: log, Store: c.store, Node: c.node,
		CompactWorker: record.NewChildWorker(os.Stderr)})
	if err != nil {
		return err
	}
	defer func() {
		if err := a.Close(); err != nil { // the audit log's last lines: never dropped in silence
			log.Error("closing the bastion", "err", err)
		}
	}()
	logMigration(log, a)
	// The port first: a first start whose --listen is taken or wrong used to create the first
	// admin and its key pair, then fail; the next start found an admin and never said where its
	// key was, nor the host key fingerprints, nor how to log in.
	ln, err := a.Listen()
	if err != nil {
		return err
	}
	defer func() { _ = ln.Close() }() // Serve closes it; here for the returns before Serve
	b, err := a.CreateFirstAdmin(ctx, c.admin, c.adminKey)
	if err != nil {
		return err
	}
	var gc *gcFloor
	if os.Getenv("GOGC") == "" {
		gc = startGCFloor(a.Config().GCPercent) // gcfloor.go: bulk relays collect far less often
		defer gc.Stop()
	}
	go a.LogMustEnrol(ctx) // one store read per account: not on the way to listening
	// SIGUSR1 runs the key sync now (what `gatehouse sync` asks of a running server); caught
	// before "listening on" is printed, as SIGHUP above, since its default action ends the process.
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	fmt.Fprintf(stdout, "gatehouse %s listening on %s (data in %s)\n", app.Version, ln.Addr(), c.dataDir)
	if limErr != nil {
		log.Warn("open files limit not raised", "err", limErr)
	} else if after > 0 {
		fmt.Fprintf(stdout, "Open files limit %d: about %d relayed sessions at %d descriptors each.\n",
			after, app.SessionCapacity(after), app.DescriptorsPerSession)
	}
	if b.Created {
		keyOpt := ""
		if b.KeyFile != "" {
			keyOpt = "-i " + b.KeyFile + " "
			fmt.Fprintf(stdout, "No account existed: created the first admin %q with a new key pair in %s (0600).\n", b.Account, b.KeyFile)
		} else {
			fmt.Fprintf(stdout, "No account existed: created the first admin %q with the key from --admin-key.\n", b.Account)
		}
		if err := printHostKeys(stdout, c.dataDir, a.Config().HostKeyAlgorithms, host, port); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Log in with:\n  ssh %s-p %s %s@%s -- --osh info\n", keyOpt, port, b.Account, host)
	}
	go func() {
		for range hup {
			restart, err := a.ReloadReport()
			// The new level first, so that the lines below are logged under it.
			if l, perr := parseLevel(a.Config().LogLevel); err == nil && levelFromFile && perr == nil && l != logLevel.Level() {
				from := logLevel.Level()
				logLevel.Set(l)
				log.Warn("log level changed", "from", from.String(), "to", l.String())
			}
			switch {
			case err != nil:
				log.Error("configuration not reloaded, keeping the running one", "err", err)
			case len(restart) > 0:
				log.Warn("configuration reloaded, except what only a restart applies: "+strings.Join(restart, ", "), "restart_needed", restart)
			default:
				log.Info("configuration reloaded")
			}
			if err == nil {
				a.LogMustEnrol(ctx)
			}
			if err == nil && gc != nil {
				gc.SetBase(a.Config().GCPercent)
			}
		}
	}()
	go func() {
		for range usr1 {
			a.SyncNow()
		}
	}()
	return a.Serve(ctx, ln)
}
