package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"gatehouse/internal/app"
)

// command is one subcommand as help and the man page show it. Its options come from the same
// flag set the command parses, so neither can forget one.
type command struct {
	name    string // "serve", "audit verify"
	args    string // what follows the options
	summary string
	detail  string
	flags   func() *flag.FlagSet // nil: no options
}

// commands is every subcommand, in the order help lists them.
var commands = []*command{
	{name: "serve", summary: "run the bastion",
		detail: "Listens for SSH (--listen, default 127.0.0.1:2222), serves /metrics and /healthz on metricsListen when set, " +
			"and creates the first admin when the store has no account (with a new key pair in the data directory unless --admin-key is given), " +
			"printing the host key fingerprints and the login command. SIGHUP reloads the configuration; SIGINT or SIGTERM shut it down.",
		flags: func() *flag.FlagSet { fs, _ := flags("serve", io.Discard, true); return fs }},
	{name: "init", summary: "prepare a data directory and its first admin without serving",
		detail: "Needs --admin-key FILE, the first admin's public key. Refused when the store already has accounts.",
		flags:  func() *flag.FlagSet { fs, _ := flags("init", io.Discard, false); return fs }},
	{name: "sync", summary: "run every [[sync.source]] of the configuration once, now",
		detail: "--dry-run prints what would change and changes nothing (safe next to a running server). " +
			"While gatehouse serve runs, it syncs by itself every interval: kill -USR1 PID asks it for a run now.",
		flags: func() *flag.FlagSet { fs, _ := syncFlags(io.Discard); return fs }},
	{name: "audit verify", args: "[FILE ...]", summary: "check the audit log's hash chain and signed checkpoints",
		detail: "Names the first broken line and exits 1 when the log is not intact, 0 when it is. Without FILE, every file of DATA-DIR/audit/; with --bucket, every node's chain in the [archive] bucket.",
		flags:  func() *flag.FlagSet { fs, _ := auditFlags(io.Discard); return fs }},
	{name: "replay", args: "FILE|s3://BUCKET/KEY", summary: "play a session recording (gatehouse, asciicast or ttyrec), print it as text, or convert it",
		flags: func() *flag.FlagSet { fs, _ := replayFlags(io.Discard); return fs }},
	{name: "migrate-store", summary: "copy a SQLite store into an empty PostgreSQL store (docs/cluster.md)",
		flags: func() *flag.FlagSet { fs, _, _, _ := migrateStoreFlags(io.Discard); return fs }},
	{name: "pam-token", summary: "make the token of a server's PAM module ([pam.servers])",
		flags: func() *flag.FlagSet { fs, _, _ := pamTokenFlags(io.Discard); return fs }},
	{name: "man", summary: "print the manual page (roff) on standard output"},
	{name: "version", summary: "print the version"},
	{name: "help", args: "[COMMAND]", summary: "print this help, or a command's"},
}

func lookupCommand(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

// wantsHelp says whether args ask for help (-h, -help, --help) before any "--".
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--help":
			return true
		}
	}
	return false
}

func (c *command) synopsis() string {
	s := "gatehouse " + c.name
	if c.flags != nil {
		s += " [options]"
	}
	if c.args != "" {
		s += " " + c.args
	}
	return s
}

// option is one flag as shown: "--name VALUE", its usage and its default.
type option struct{ name, value, usage, def string }

func (c *command) options() []option {
	if c.flags == nil {
		return nil
	}
	var out []option
	c.flags().VisitAll(func(f *flag.Flag) {
		value, usage := flag.UnquoteUsage(f)
		o := option{name: "--" + f.Name, value: value, usage: usage}
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
			o.def = f.DefValue
		}
		out = append(out, o)
	})
	return out
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "gatehouse %s: an SSH bastion in one binary\n\nUsage:\n", app.Version)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-44s %s\n", c.synopsis(), c.summary)
	}
	for _, c := range commands {
		if opts := c.options(); len(opts) > 0 {
			fmt.Fprintf(w, "\nOptions of %s:\n", c.name)
			writeOptions(w, opts)
		}
	}
	fmt.Fprint(w, "\nRun \"gatehouse COMMAND --help\" for one command, \"gatehouse man\" for the manual page.\n")
}

func commandHelp(w io.Writer, c *command) {
	fmt.Fprintf(w, "Usage: %s\n\n%s.\n", c.synopsis(), upperFirst(c.summary))
	if c.detail != "" {
		fmt.Fprintf(w, "%s\n", c.detail)
	}
	if opts := c.options(); len(opts) > 0 {
		fmt.Fprint(w, "\nOptions:\n")
		writeOptions(w, opts)
	}
}

func writeOptions(w io.Writer, opts []option) {
	for _, o := range opts {
		fmt.Fprintf(w, "  %s", strings.TrimSpace(o.name+" "+o.value))
		fmt.Fprintf(w, "\n      %s", o.usage)
		if o.def != "" {
			fmt.Fprintf(w, " (default %s)", o.def)
		}
		fmt.Fprintln(w)
	}
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// manPage writes gatehouse(1) in roff from the command table. It holds no date, so that the
// copy in docs/gatehouse.1 changes only when a command or an option does.
func manPage(w io.Writer) error {
	var b strings.Builder
	b.WriteString(".TH GATEHOUSE 1 \"\" \"gatehouse " + roff(app.Version) + "\" \"User Commands\"\n")
	b.WriteString(".SH NAME\ngatehouse \\- an SSH bastion in one binary\n.SH SYNOPSIS\n")
	for _, c := range commands {
		b.WriteString(".B " + roff(c.synopsis()) + "\n.br\n")
	}
	b.WriteString(".SH DESCRIPTION\n" +
		"gatehouse is an SSH bastion: people reach their servers only through it. It checks who they are " +
		"(an SSH key, then the second factors policy asks for), decides where they may go, connects to the target " +
		"with keys it holds, records what the terminal shows and keeps a signed audit trail. It speaks the command " +
		"language of OVH's The Bastion (\\fB\\-\\-osh\\fR commands) over SSH.\n")
	b.WriteString(".SH COMMANDS\n")
	for _, c := range commands {
		b.WriteString(".SS " + roff(c.name) + "\n" + roff(upperFirst(c.summary)) + ".\n")
		if c.detail != "" {
			b.WriteString(roff(c.detail) + "\n")
		}
		for _, o := range c.options() {
			b.WriteString(".TP\n.B " + roff(o.name))
			if o.value != "" {
				b.WriteString(" \\fI" + roff(o.value) + "\\fR")
			}
			b.WriteString("\n" + roff(o.usage))
			if o.def != "" {
				b.WriteString(" (default " + roff(o.def) + ")")
			}
			b.WriteString("\n")
		}
	}
	b.WriteString(".SH ENVIRONMENT\n.TP\n.B GATEHOUSE_DATA_DIR\nthe data directory when \\fB\\-\\-data\\-dir\\fR is not given.\n" +
		".TP\n.B GATEHOUSE_SEAL_KEY\nthe key sealing secrets at rest, instead of DATA-DIR/seal.key.\n" +
		".TP\n.B GOGC\nthe Go garbage collector's target; when set it wins over gcPercent.\n" +
		".TP\n.B GATEHOUSE_PPROF_LISTEN\na loopback address (127.0.0.1:6060) where serve answers Go's profiling endpoints, /debug/pprof/; unset (the default), none.\n")
	b.WriteString(".SH FILES\n.TP\n.I DATA-DIR/gatehouse.toml\nthe configuration, unless \\fB\\-\\-config\\fR names another; contrib/gatehouse.toml lists every key.\n" +
		".TP\n.I DATA-DIR/gatehouse.db\nthe store (SQLite), migrated on start.\n" +
		".TP\n.I DATA-DIR/audit/\nthe hash-chained audit log.\n" +
		".TP\n.I DATA-DIR/recordings/\nsession recordings.\n")
	b.WriteString(".SH SEE ALSO\n.BR ssh (1),\n.BR ssh-keygen (1)\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// roff escapes text for a man page: backslashes, hyphens (so they stay ASCII and searchable),
// and a leading dot or quote that roff would take for a request.
func roff(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	s = strings.ReplaceAll(s, "-", `\-`)
	s = strings.ReplaceAll(s, "…", "...") // roff input is ASCII here: groff -Tutf8 warns otherwise
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}

// newLogger makes the log of serve and init: level and format from --log-level and
// --log-format, refused when unknown (a typo must not silence the log).
func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	lv := new(slog.LevelVar)
	return newLevelLogger(w, lv, level, format)
}

// newLevelLogger is newLogger whose level stays in lv, so that a reload can change it.
func newLevelLogger(w io.Writer, lv *slog.LevelVar, level, format string) (*slog.Logger, error) {
	l, err := parseLevel(level)
	if err != nil {
		return nil, err
	}
	lv.Set(l)
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "logfmt", "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want logfmt or json", format)
}

func parseLevel(level string) (slog.Level, error) {
	switch level {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
}

// logger is the default log (info, logfmt) of the commands without log options.
func logger(w io.Writer) *slog.Logger {
	l, _ := newLogger(w, "info", "logfmt")
	return l
}
