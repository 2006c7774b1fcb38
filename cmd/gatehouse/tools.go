package main

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"gatehouse/internal/app"
	"gatehouse/internal/archive"
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
	bucket, configFile, node := &o.bucket, &o.configFile, &o.node
	keyPath := *pubFile
	if keyPath == "" {
		keyPath = filepath.Join(*dataDir, app.AuditKeyFile+".pub")
	}
	pub, err := app.ReadAuditPublicKey(keyPath)
	if err != nil {
		return err
	}
	if *bucket != "" {
		return verifyBucket(*dataDir, *configFile, *bucket, *node, pub, stdout)
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
		_ = f.Close() // read only
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
	bucket, configFile, node     string
}

func auditFlags(stderr io.Writer) (*flag.FlagSet, *auditOptions) {
	o := &auditOptions{}
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.dataDir, "data-dir", defaultDataDir(), "data directory holding audit/ and audit_ed25519.pub")
	fs.BoolVar(&o.strict, "strict", false, "require a complete log: it must end with its shutdown checkpoint (a closed log is checked so anyway)")
	fs.StringVar(&o.syslogFile, "syslog", "", "syslog file holding gatehouse's audit.checkpoint lines: each must be in the log, with the same hash")
	fs.StringVar(&o.pubFile, "key", "", "audit public key file (hex); default DATA-DIR/audit_ed25519.pub")
	fs.StringVar(&o.bucket, "bucket", "", "verify every node's chain from this [archive] bucket instead of the local files (\"-\": the configured one)")
	fs.StringVar(&o.configFile, "config", "", "with --bucket: configuration file holding [archive]; default DATA-DIR/gatehouse.toml")
	fs.StringVar(&o.node, "node", "", "with --bucket: verify only this node's chain (nodes with their own audit key: one run per node, with --key)")
	return fs, o
}

type replayOptions struct {
	speed, maxIdle          float64
	text                    bool
	format, export, outPath string
	dataDir, configFile     string
}

// replayFlags are replay's options, for the command and for its help and man page.
func replayFlags(stderr io.Writer) (*flag.FlagSet, *replayOptions) {
	o := &replayOptions{}
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Float64Var(&o.speed, "speed", 1, "playback speed factor")
	fs.Float64Var(&o.maxIdle, "max-idle", 2, "longest pause in seconds (0: as recorded)")
	fs.BoolVar(&o.text, "text", false, "print the recording as plain text (no escapes, no timing), for search")
	fs.StringVar(&o.format, "format", "", "write the recording as text, asciicast or ttyrec instead of playing it")
	fs.StringVar(&o.export, "export", "", "same as --format")
	fs.StringVar(&o.outPath, "o", "", "with --format/--export: the file to write (created, never overwritten; default stdout)")
	fs.StringVar(&o.dataDir, "data-dir", defaultDataDir(), "for an s3://BUCKET/KEY recording: the data directory whose [archive] reaches the bucket")
	fs.StringVar(&o.configFile, "config", "", "for an s3://BUCKET/KEY recording: configuration file holding [archive]")
	return fs, o
}

// replayCmd plays a recording on the terminal, prints it as plain text, or converts it to
// asciicast or ttyrec for players (any recording: gatehouse, asciicast or ttyrec).
func replayCmd(args []string, stdout, stderr io.Writer) error {
	fs, o := replayFlags(stderr)
	speed, maxIdle, text, format, export, outPath := &o.speed, &o.maxIdle, &o.text, &o.format, &o.export, &o.outPath
	dataDir, configFile := &o.dataDir, &o.configFile
	if err := fs.Parse(args); err != nil {
		return err
	}
	const usage = "usage: gatehouse replay [--speed N] [--max-idle SECONDS] [--text | --format text|asciicast|ttyrec [-o OUT]] FILE|s3://BUCKET/KEY"
	if fs.NArg() != 1 {
		return errors.New(usage)
	}
	if *speed <= 0 {
		return errors.New("--speed must be positive")
	}
	if *export != "" {
		if *format != "" && *format != *export {
			return errors.New("--format and --export differ: give one")
		}
		*format = *export
	}
	if *text {
		if *format != "" && *format != "text" {
			return errors.New("--text and --format differ: give one")
		}
		*format = "text"
	}
	var to record.Format
	switch *format {
	case "", "text":
	case "asciicast", "ttyrec":
		to, _ = record.ParseFormat(*format)
	default:
		return fmt.Errorf("--format %q: want text, asciicast or ttyrec; %s", *format, usage)
	}
	if *outPath != "" && *format == "" {
		return errors.New("-o needs --format (playing writes to the terminal)")
	}
	f, err := openRecording(fs.Arg(0), *dataDir, *configFile, stderr)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }() // read only
	if *format != "" {
		return exportRecording(f, *format, to, *outPath, stdout)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	return record.Replay(ctx, stdout, f, *speed, time.Duration(*maxIdle*float64(time.Second)))
}

// exportRecording writes the recording in f as text or in format to to path (a new file, mode
// 0600: it holds what the recording holds), or to stdout when path is empty.
func exportRecording(f io.Reader, format string, to record.Format, path string, stdout io.Writer) error {
	w := stdout
	var out *os.File
	if path != "" {
		var err error
		if out, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600); err != nil {
			return err
		}
		w = out
	}
	var err error
	if format == "text" {
		err = record.ExportText(w, f)
	} else {
		err = record.Export(w, f, to)
	}
	if out != nil {
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			_ = os.Remove(path) // best effort: the export error is the one to report
		}
	}
	return err
}

// verifyBucket is `gatehouse audit verify --bucket`: every node's chain, as shipped to the
// [archive] bucket, checked with the audit public key. Any broken chain fails the command.
func verifyBucket(dataDir, configFile, bucket, node string, pub ed25519.PublicKey, stdout io.Writer) error {
	cfg, err := app.LoadConfig(dataDir, configFile)
	if err != nil {
		return err
	}
	if bucket != "-" {
		cfg.Archive.Bucket = bucket
	}
	if !cfg.Archive.Enabled() {
		return errors.New("--bucket -: no [archive] bucket in the configuration")
	}
	cl, err := archive.NewClient(cfg.Archive)
	if err != nil {
		return err
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()
	reports, err := cl.VerifyBucket(ctx, pub, node)
	if err != nil {
		return err
	}
	broken := 0
	for _, r := range reports {
		fmt.Fprintf(stdout, "node %s:\n", r.Node)
		if r.Report.Files != nil || r.Err == nil {
			fmt.Fprintln(stdout, r.Report.String())
		}
		if r.Err != nil {
			broken++
			fmt.Fprintf(stdout, "node %s: NOT intact: %v\n", r.Node, r.Err)
		}
	}
	if broken > 0 {
		return fmt.Errorf("%d of %d audit chains in the bucket are NOT intact", broken, len(reports))
	}
	return nil
}

// openRecording opens a local recording, or downloads s3://BUCKET/KEY through [archive]'s
// connection settings (to an unlinked temporary file). The object's SHA-256 is printed on
// stderr: compare it with the session's audited one (selfPlaySession checks it by itself).
func openRecording(arg, dataDir, configFile string, stderr io.Writer) (*os.File, error) {
	rest, ok := strings.CutPrefix(arg, "s3://")
	if !ok {
		return os.Open(arg)
	}
	bucket, key, ok := strings.Cut(rest, "/")
	if !ok || bucket == "" || key == "" {
		return nil, fmt.Errorf("%q: want s3://BUCKET/KEY", arg)
	}
	cfg, err := app.LoadConfig(dataDir, configFile)
	if err != nil {
		return nil, err
	}
	cfg.Archive.Bucket = bucket
	cl, err := archive.NewClient(cfg.Archive)
	if err != nil {
		return nil, err
	}
	f, err := cl.Download(context.Background(), key, "", "", 0)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		_ = f.Close() // read only; the copy error is the one to report
		return nil, err
	}
	fmt.Fprintf(stderr, "%s: sha256 %s\n", arg, hex.EncodeToString(h.Sum(nil)))
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		_ = f.Close() // read only; the seek error is the one to report
		return nil, err
	}
	return f, nil
}
