// Command gatehouse is an SSH bastion in one binary.
//
//	gatehouse serve [--data-dir DIR] [--listen ADDR] [--config FILE] [--admin NAME] [--admin-key FILE]
//	gatehouse init  --data-dir DIR --admin NAME --admin-key FILE [--config FILE]
//	gatehouse sync  [--dry-run] [--force] [--data-dir DIR] [--config FILE]
//	gatehouse migrate-store --from DATA_DIR --to postgres://…
//	gatehouse version
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
	"runtime/debug"
	"strings"
	"syscall"

	"gatehouse/internal/app"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func usage(w io.Writer) {
	fmt.Fprint(w, `gatehouse: an SSH bastion in one binary

Usage:
  gatehouse serve [--data-dir DIR] [--listen ADDR] [--config FILE] [--admin NAME] [--admin-key FILE]
  gatehouse init  --data-dir DIR --admin NAME --admin-key FILE [--config FILE]
  gatehouse sync  [--dry-run] [--force] [--data-dir DIR] [--config FILE]
  gatehouse audit verify [--data-dir DIR] [--strict] [--syslog FILE] [--key PUB] [FILE … | --bucket NAME|- [--node NAME]]
  gatehouse replay [--speed N] [--max-idle SECONDS] [--text | --format text|asciicast|ttyrec [-o OUT]] FILE|s3://BUCKET/KEY
  gatehouse migrate-store --from DATA_DIR --to postgres://USER:PASSWORD@HOST/DB
  gatehouse pam-token --server NAME [--addresses A,B]
  gatehouse version

Run "gatehouse COMMAND -h" for the options of a command.
`)
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = serve(args[1:], stdout, stderr)
	case "init":
		err = initCmd(args[1:], stdout, stderr)
	case "sync":
		err = syncCmd(args[1:], stdout, stderr)
	case "audit":
		err = auditCmd(args[1:], stdout, stderr)
	case "replay":
		err = replayCmd(args[1:], stdout, stderr)
	case "migrate-store":
		err = migrateStoreCmd(args[1:], stdout, stderr)
	case "pam-token":
		err = pamTokenCmd(args[1:], stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "gatehouse", app.Version)
	case "help", "-h", "--help":
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

func defaultDataDir() string {
	if d := os.Getenv("GATEHOUSE_DATA_DIR"); d != "" {
		return d
	}
	return "data"
}

type common struct {
	dataDir, config, admin, adminKey, listen string
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
	return fs, c
}

func logger(stderr io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

func initCmd(args []string, stdout, stderr io.Writer) error {
	fs, c := flags("init", stderr, false)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if c.adminKey == "" {
		return errors.New("init needs --admin-key FILE (the first admin's public key); `gatehouse serve` can generate one instead")
	}
	ctx := context.Background()
	a, err := app.Open(ctx, app.Options{DataDir: c.dataDir, ConfigFile: c.config, Log: logger(stderr), Store: c.store, Node: c.node})
	if err != nil {
		return err
	}
	defer a.Close()
	b, err := a.CreateFirstAdmin(ctx, c.admin, c.adminKey)
	if err != nil {
		return err
	}
	if !b.Created {
		return fmt.Errorf("%s already has accounts: init only prepares a new data directory", c.dataDir)
	}
	fmt.Fprintf(stdout, "Data directory %s is ready; first admin: %s.\nStart the bastion with: gatehouse serve --data-dir %s\n", c.dataDir, b.Account, c.dataDir)
	return nil
}

func serve(args []string, stdout, stderr io.Writer) error {
	fs, c := flags("serve", stderr, true)
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := logger(stderr)
	// Out of descriptors, newcomers wait: raise the soft limit to the hard one first, and say
	// below what it allows.
	_, after, limErr := app.RaiseFileLimit()
	a, err := app.Open(ctx, app.Options{DataDir: c.dataDir, ConfigFile: c.config, Listen: c.listen, Log: log, Store: c.store, Node: c.node})
	if err != nil {
		return err
	}
	defer a.Close()
	b, err := a.CreateFirstAdmin(ctx, c.admin, c.adminKey)
	if err != nil {
		return err
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(a.Config().GCPercent)
	}
	// Signals are caught before "listening on" is printed: a SIGHUP sent as soon as it shows
	// would otherwise end the process (their default action). SIGUSR1 runs the key sync now
	// (what `gatehouse sync` asks of a running server).
	hup, usr1 := make(chan os.Signal, 1), make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	signal.Notify(usr1, syscall.SIGUSR1)
	ln, err := a.Listen()
	if err != nil {
		return err
	}
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
		fmt.Fprintf(stdout, "Log in with:\n  ssh %s-p %s %s@%s -- --osh info\n", keyOpt, port, b.Account, host)
	}
	go func() {
		for range hup {
			restart, err := a.ReloadReport()
			switch {
			case err != nil:
				log.Error("configuration not reloaded, keeping the running one", "err", err)
			case len(restart) > 0:
				log.Warn("configuration reloaded, except what only a restart applies: "+strings.Join(restart, ", "), "restart_needed", restart)
			default:
				log.Info("configuration reloaded")
			}
			if err == nil && os.Getenv("GOGC") == "" {
				debug.SetGCPercent(a.Config().GCPercent)
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
