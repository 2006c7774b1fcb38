package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"gatehouse/internal/app"
	"gatehouse/internal/audit"
	"gatehouse/internal/record"
)

// auditCmd runs `gatehouse audit verify`: it checks the hash chain and the signed checkpoints of
// the audit log end to end and names the first broken line. Exit 0 when intact. A closed log (it
// ends with its shutdown checkpoint) is checked strictly; --syslog checks the log against the
// signed checkpoints gatehouse sent to syslog, which reveals a log cut back to an earlier point.
func auditCmd(args []string, stdout, stderr io.Writer) error {
	fs, o := auditFlags(stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	dataDir, strict, syslogFile, pubFile := &o.dataDir, &o.strict, &o.syslogFile, &o.pubFile
	keyPath := *pubFile
	if keyPath == "" {
		keyPath = filepath.Join(*dataDir, app.AuditKeyFile+".pub")
	}
	pub, err := app.ReadAuditPublicKey(keyPath)
	if err != nil {
		return err
	}
	files := fs.Args()
	if len(files) == 0 {
		if files, err = audit.Files(app.AuditDir(*dataDir)); err != nil {
			return err
		}
	}
	if len(files) == 0 {
		return fmt.Errorf("no audit log file in %s", app.AuditDir(*dataDir))
	}
	opts := audit.VerifyOptions{Strict: *strict}
	if *syslogFile != "" {
		f, err := os.Open(*syslogFile)
		if err != nil {
			return err
		}
		opts.Anchors, err = audit.ParseSyslogAnchors(f, audit.KeyID(pub))
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", *syslogFile, err)
		}
		if len(opts.Anchors) == 0 {
			return fmt.Errorf("%s holds no audit.checkpoint line of this bastion's key: nothing to compare with", *syslogFile)
		}
	}
	report, err := audit.Verify(files, pub, opts)
	fmt.Fprintln(stdout, report.String())
	if err != nil {
		return fmt.Errorf("audit log is NOT intact: %w", err)
	}
	return nil
}

type auditOptions struct {
	dataDir, syslogFile, pubFile string
	strict                       bool
}

func auditFlags(stderr io.Writer) (*flag.FlagSet, *auditOptions) {
	o := &auditOptions{}
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.dataDir, "data-dir", defaultDataDir(), "data directory holding audit/ and audit_ed25519.pub")
	fs.BoolVar(&o.strict, "strict", false, "require a complete log: it must end with its shutdown checkpoint (a closed log is checked so anyway)")
	fs.StringVar(&o.syslogFile, "syslog", "", "syslog file holding gatehouse's audit.checkpoint lines: each must be in the log, with the same hash")
	fs.StringVar(&o.pubFile, "key", "", "audit public key file (hex); default DATA-DIR/audit_ed25519.pub")
	return fs, o
}

type replayOptions struct {
	speed, maxIdle float64
	text           bool
}

func replayFlags(stderr io.Writer) (*flag.FlagSet, *replayOptions) {
	o := &replayOptions{}
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Float64Var(&o.speed, "speed", 1, "playback speed factor")
	fs.Float64Var(&o.maxIdle, "max-idle", 2, "longest pause in seconds (0: as recorded)")
	fs.BoolVar(&o.text, "text", false, "print the recording as plain text (no escapes, no timing), for search")
	return fs, o
}

// replayCmd plays a recording on the terminal, or prints it as plain text.
func replayCmd(args []string, stdout, stderr io.Writer) error {
	fs, o := replayFlags(stderr)
	speed, maxIdle, text := &o.speed, &o.maxIdle, &o.text
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: gatehouse replay [--speed N] [--max-idle SECONDS] [--text] FILE")
	}
	if *speed <= 0 {
		return errors.New("--speed must be positive")
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return err
	}
	defer f.Close()
	if *text {
		return record.ExportText(stdout, f)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	return record.Replay(ctx, stdout, f, *speed, time.Duration(*maxIdle*float64(time.Second)))
}
