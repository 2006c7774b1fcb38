// Package config reads gatehouse's configuration file (TOML). Option names follow The Bastion's
// bastion.conf wherever one exists, so an administrator who knows one knows the other.
//
// Loading is strict: an unknown key or a bad value stops the start with the file, the line and the
// reason, since a typo in a security setting silently ignored is worse than a refusal to start.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// Config is the whole configuration. The zero value is not valid; use Default or Load.
type Config struct {
	BastionName string `toml:"bastionName"`
	Listen      string `toml:"listen"`
	// BastionCommand is the alias `info` prints, as The Bastion's option of the same name:
	// ACCOUNT (or USER) becomes the account, HOST and PORT the address the client reached.
	// Set it to the name people use when HOST would be a NAT'd or internal address.
	BastionCommand string `toml:"bastionCommand"`
	// Store is where the state lives: "" the embedded SQLite file in the data directory, or a
	// postgres://… URL shared by several nodes (docs/cluster.md). --store overrides it.
	Store string `toml:"store"`
	// Node names this node in a cluster (the session list's node column); "" the host name.
	Node string `toml:"node"`

	// Ingress limits, as sshd's MaxStartups "start:rate:full", LoginGraceTime and MaxSessions.
	MaxStartups    string `toml:"maxStartups"`
	LoginGraceTime int    `toml:"loginGraceTime"` // seconds
	MaxSessions    int    `toml:"maxSessions"`
	MaxCommandLine int    `toml:"maxCommandLineBytes"`
	// Per source address (IPv4 /32, IPv6 /64), as sshd's PerSourceMaxStartups and
	// PerSourcePenalties: unauthenticated connections held at once (0: no limit), and seconds of
	// refusal a source earns by a connection that ends unauthenticated, doubling with each such
	// connection in a row; a source is refused once it owes at least perSourcePenaltyMin.
	PerSourceMaxStartups          int      `toml:"perSourceMaxStartups"`
	PerSourcePenalties            bool     `toml:"perSourcePenalties"`
	PerSourcePenaltyAuthFail      int      `toml:"perSourcePenaltyAuthFail"`
	PerSourcePenaltyNoAuth        int      `toml:"perSourcePenaltyNoAuth"`
	PerSourcePenaltyGraceExceeded int      `toml:"perSourcePenaltyGraceExceeded"`
	PerSourcePenaltyMin           int      `toml:"perSourcePenaltyMin"`
	PerSourcePenaltyMax           int      `toml:"perSourcePenaltyMax"`
	PerSourcePenaltyExemptList    []string `toml:"perSourcePenaltyExemptList"`
	PerSourceMaxSources           int      `toml:"perSourceMaxSources"`
	// ProxyProtocolFrom lists the load balancers (addresses, prefixes) whose connections carry
	// a PROXY protocol header (v1 or v2) naming the client: that client is then the address
	// every check sees. Empty: the protocol is off. A header from any other address is refused.
	ProxyProtocolFrom []string `toml:"proxyProtocolFrom"`
	// Ciphers the SSH server offers, in order. OpenSSH clients pick by their own order, which puts
	// chacha20-poly1305 first; x/crypto has no assembly for it, so by default only AES (hardware)
	// is offered: that doubled relay throughput on this machine (docs/performance.md). Only GCM
	// by default: OpenSSH's client takes the first of its own list that the server offers, and it
	// lists chacha20 and the CTR modes before GCM, so offered they would be picked instead.
	Ciphers []string `toml:"ciphers"`
	// KexAlgorithms, MACs and HostKeyAlgorithms the SSH server offers, in order, as sshd's
	// options of the same names. The defaults pass ssh-audit: no SHA-1, no NIST curves, only
	// encrypt-then-MAC (docs/configuration.md). Values are checked against what
	// golang.org/x/crypto/ssh implements.
	KexAlgorithms     []string `toml:"kexAlgorithms"`
	MACs              []string `toml:"MACs"`
	HostKeyAlgorithms []string `toml:"hostKeyAlgorithms"`

	AccountMFAPolicy        string   `toml:"accountMFAPolicy"`
	AccountMaxInactiveDays  int      `toml:"accountMaxInactiveDays"`
	MFAPasswordMinDays      int      `toml:"MFAPasswordMinDays"`
	MFAPasswordMaxDays      int      `toml:"MFAPasswordMaxDays"`
	MFAPasswordWarnDays     int      `toml:"MFAPasswordWarnDays"`
	MFAPasswordInactiveDays int      `toml:"MFAPasswordInactiveDays"`
	EgressKeysFrom          []string `toml:"egressKeysFrom"`
	// Ingress keys, as The Bastion's bastion.conf: the from="…" list put on new keys
	// (ingressKeysFrom) and whether a key's own from= may replace it
	// (ingressKeysFromAllowOverride); the RSA sizes accepted (never below 2048).
	IngressKeysFrom              []string `toml:"ingressKeysFrom"`
	IngressKeysFromAllowOverride bool     `toml:"ingressKeysFromAllowOverride"`
	MinimumIngressRsaKeySize     int      `toml:"minimumIngressRsaKeySize"`
	MaximumIngressRsaKeySize     int      `toml:"maximumIngressRsaKeySize"`
	// accountExternalValidationProgram is called with the account name at each session start
	// (internal/extvalid); "" disables the check.
	ExtValidationProgram       string `toml:"accountExternalValidationProgram"`
	ExtValidationDenyOnFailure bool   `toml:"accountExternalValidationDenyOnFailure"`
	// AlwaysActiveAccounts are accounts always active whatever the inactivity expiry and the
	// external validation program say (The Bastion's alwaysActiveAccounts), as if each had
	// accountModify --always-active yes.
	AlwaysActiveAccounts []string `toml:"alwaysActiveAccounts"`

	// MFAMode says when per-account factors are asked: "immediate" (during SSH authentication,
	// as The Bastion's default sshd_config) or "jit" (by the bastion, before each action).
	MFAMode string `toml:"MFAMode"`
	// MFA tries: TOTP steps accepted each side of now, and throttling per account and factor.
	MFATOTPWindow        int `toml:"MFATOTPWindow"`
	MFARateLimitAttempts int `toml:"MFARateLimitAttempts"`
	MFARateLimitSeconds  int `toml:"MFARateLimitSeconds"`
	MFALockAfterFailures int `toml:"MFALockAfterFailures"`
	// pam_faillock's fail_interval and unlock_time (The Bastion's etc/pam.d/sshd: deny=6
	// unlock_time=300): MFALockAfterFailures failures within MFALockFailInterval seconds lock the
	// factor for MFALockUnlockTime seconds after the last (0: until accountUnlock).
	MFALockFailInterval int `toml:"MFALockFailInterval"`
	MFALockUnlockTime   int `toml:"MFALockUnlockTime"`
	// dnsSupportLevel is The Bastion's: 0 no resolution at all (host names are refused), 1
	// forward only, 2 forward and reverse.
	DNSSupportLevel int `toml:"dnsSupportLevel"`
	// Tries without a verified key (pubkey-optional accounts), per source address: tries per
	// window, and failures one source may add to an account's lockout count (used at most
	// MFALockAfterFailures−1, so that one stranger cannot lock a person out).
	MFASourceRateLimitAttempts int `toml:"MFASourceRateLimitAttempts"`
	MFASourceRateLimitSeconds  int `toml:"MFASourceRateLimitSeconds"`
	MFASourceLockCap           int `toml:"MFASourceLockCap"`
	// MFASourceTableMax: sources the per-source table keeps at most (store.MFASourceRoom); a
	// new source in a full table evicts idle then quiet ones, else its tries are refused.
	MFASourceTableMax int `toml:"MFASourceTableMax"`

	DefaultAccountEgressKeyAlgorithm string `toml:"defaultAccountEgressKeyAlgorithm"`
	DefaultAccountEgressKeySize      int    `toml:"defaultAccountEgressKeySize"`

	InteractiveModeAllowed                bool `toml:"interactiveModeAllowed"`
	InteractiveModeTimeout                int  `toml:"interactiveModeTimeout"`
	InteractiveModeByDefault              bool `toml:"interactiveModeByDefault"`
	InteractiveModeProactiveMFAenabled    bool `toml:"interactiveModeProactiveMFAenabled"`
	InteractiveModeProactiveMFAexpiration int  `toml:"interactiveModeProactiveMFAexpiration"`

	IdleLockTimeout       int `toml:"idleLockTimeout"`
	IdleKillTimeout       int `toml:"idleKillTimeout"`
	WarnBeforeLockSeconds int `toml:"warnBeforeLockSeconds"`
	WarnBeforeKillSeconds int `toml:"warnBeforeKillSeconds"`

	// Recording and audit.
	RecordingFormat            string `toml:"recordingFormat"`            // gatehouse (default: compressed, docs/recording.md), asciicast or ttyrec
	TtyrecStealthStdoutPattern string `toml:"ttyrecStealthStdoutPattern"` // regexp on the remote command
	AuditCheckpointEvery       int    `toml:"auditCheckpointEvery"`
	SyslogAddress              string `toml:"syslogAddress"` // "" off; "udp://127.0.0.1:514", "unix:///dev/log"
	MetricsListen              string `toml:"metricsListen"` // "" off; e.g. "127.0.0.1:9122"
	// GCPercent is the Go garbage collector's target (GOGC) for `gatehouse serve`. 50 keeps the
	// resident memory of many idle sessions low (docs/performance.md) at a small CPU cost; the
	// GOGC environment variable, when set, wins.
	GCPercent int `toml:"gcPercent"`
	// LogLevel (debug, info, warn, error) and LogFormat (logfmt, json) of the log on standard
	// error; the --log-level and --log-format flags, when given, win. A reload applies the level.
	LogLevel  string `toml:"logLevel"`
	LogFormat string `toml:"logFormat"`

	// SyslogFormat is the lines' form: "bastion" (The Bastion's, field for field, for the SIEM
	// parsers written for it) or "gatehouse" (gatehouse's own audit fields, non-empty only).
	// SyslogFacility and SyslogDescription (the program tag) are The Bastion's options.
	SyslogFormat      string `toml:"syslogFormat"`
	SyslogFacility    string `toml:"syslogFacility"`
	SyslogDescription string `toml:"syslogDescription"`

	// RemoteCommandEscapeByDefault is The Bastion's option of the same name: true applies its
	// ancient quoting of remote commands (every ' sent as \') unless --never-escape is given.
	RemoteCommandEscapeByDefault bool `toml:"remoteCommandEscapeByDefault"`

	// RecordingMaxBytes caps each session's recording: past it a marker is written and the
	// session goes on unrecorded (audited as recording.limit). 0: no cap.
	RecordingMaxBytes int64 `toml:"recordingMaxBytes"`
	// TransferRecording is what the recording keeps of a file transfer (scp's and rsync's server
	// sides, the sftp subsystem): "metadata" (the default: a marker; the audit has the files,
	// sizes and SHA-256) or "full" (the bytes the target sends, as for any session).
	TransferRecording string `toml:"transferRecording"`

	// ApprovalListen is the HTTP listener of the approval factor (Slack's interactivity URL and
	// the signed approval links); "" off. Kept apart from metricsListen: it may have to be
	// reachable from Slack, the metrics should not.
	ApprovalListen string `toml:"approvalListen"`
	// Notify configures chat channels, the webhook code and approval factors, and alerts.
	Notify Notify `toml:"notify"`
	// Sync keeps accounts and keys in step with sources of truth (docs/sync.md).
	Sync Sync `toml:"sync"`
	// PAM is the endpoint the targets' pam_gatehouse.so asks, and the tickets (docs/pam.md).
	PAM PAM `toml:"pam"`
	// Web is the web console (docs/web.md).
	Web Web `toml:"web"`
	// Archive ships recordings and audit log files to an S3 bucket (docs/cluster.md).
	Archive Archive `toml:"archive"`

	// Plugin holds per-command settings, as The Bastion's plugin.<name>.conf files.
	Plugin map[string]PluginConfig `toml:"plugin"`

	// source and pluginLines say where the file was and where each [plugin.NAME] starts, for
	// CheckPlugins' file:line (the command names are known only once the registry is built).
	source      string
	pluginLines map[string]int
}

// PluginConfig is the operator's part of a command's configuration.
type PluginConfig struct {
	Disabled    bool   `toml:"disabled"`
	MFARequired string `toml:"mfa_required"`
	// WidestV4Prefix and WidestV6Prefix bound the prefixes accountAddPersonalAccess,
	// selfAddPersonalAccess, groupAddServer and groupSetServers add (The Bastion's
	// widest_v4_prefix: 24 refuses a /20); 0 is no bound.
	WidestV4Prefix int `toml:"widest_v4_prefix"`
	WidestV6Prefix int `toml:"widest_v6_prefix"`
	// MinPasswordSize is the smallest --size the *GeneratePassword commands accept (The
	// Bastion's minPasswordSize); 0: 8.
	MinPasswordSize int `toml:"minPasswordSize"`
}

// Default returns the configuration used when no file is given. maxStartups 2000:30:4000: 1,000
// honest logins at once stay under its start (TestLoginStormDefaultConfig), one source meets
// perSourceMaxStartups first, and a full table of pending handshakes (about 33 KiB each) holds
// about 130 MiB (docs/performance.md).
func Default() Config {
	return Config{
		BastionName:                           "gatehouse",
		BastionCommand:                        "ssh ACCOUNT@HOST -p PORT -t --",
		Listen:                                "127.0.0.1:2222",
		MaxStartups:                           "2000:30:4000",
		LoginGraceTime:                        30,
		MaxSessions:                           10,
		PerSourceMaxStartups:                  10,
		PerSourcePenalties:                    true,
		PerSourcePenaltyAuthFail:              5,
		PerSourcePenaltyNoAuth:                1,
		PerSourcePenaltyGraceExceeded:         20,
		PerSourcePenaltyMin:                   15,
		PerSourcePenaltyMax:                   600,
		PerSourceMaxSources:                   65536,
		MaxCommandLine:                        64 * 1024,
		Ciphers:                               []string{"aes128-gcm@openssh.com", "aes256-gcm@openssh.com"},
		KexAlgorithms:                         []string{"mlkem768x25519-sha256", "curve25519-sha256", "curve25519-sha256@libssh.org"},
		MACs:                                  []string{"hmac-sha2-256-etm@openssh.com", "hmac-sha2-512-etm@openssh.com"},
		HostKeyAlgorithms:                     []string{"ssh-ed25519"},
		AccountMFAPolicy:                      "enabled",
		MFAPasswordMaxDays:                    90,
		MFAPasswordWarnDays:                   15,
		MFAPasswordInactiveDays:               -1,
		MFAMode:                               "immediate",
		MFATOTPWindow:                         1,
		MFARateLimitAttempts:                  0,
		MFARateLimitSeconds:                   30,
		MFALockAfterFailures:                  6,
		MFALockFailInterval:                   900,
		MFALockUnlockTime:                     300,
		DNSSupportLevel:                       2,
		IngressKeysFrom:                       []string{},
		MinimumIngressRsaKeySize:              2048,
		MaximumIngressRsaKeySize:              8192,
		ExtValidationDenyOnFailure:            true,
		AlwaysActiveAccounts:                  []string{},
		MFASourceRateLimitAttempts:            3,
		MFASourceRateLimitSeconds:             60,
		MFASourceLockCap:                      3,
		MFASourceTableMax:                     100_000,
		DefaultAccountEgressKeyAlgorithm:      "ed25519",
		DefaultAccountEgressKeySize:           256,
		InteractiveModeAllowed:                true,
		InteractiveModeTimeout:                60,
		LogLevel:                              "info",
		LogFormat:                             "logfmt",
		InteractiveModeByDefault:              true,
		InteractiveModeProactiveMFAenabled:    true,
		InteractiveModeProactiveMFAexpiration: 900,
		RecordingFormat:                       "gatehouse",
		RecordingMaxBytes:                     1 << 30,
		TransferRecording:                     "metadata",
		AuditCheckpointEvery:                  1000,
		SyslogFormat:                          "bastion",
		SyslogFacility:                        "local7",
		SyslogDescription:                     "bastion",
		GCPercent:                             50,
		// Four eyes by default: nobody approves their own access unless the operator says so.
		Notify: Notify{Approval: NotifyApproval{FourEyes: true}},
		Plugin: map[string]PluginConfig{},
		Sync:   Sync{Interval: "5m", MaxRemoveShare: DefaultMaxRemoveShare},
	}
}

// Error is a refusal of the configuration file, with where and why.
type Error struct {
	File   string
	Line   int
	Key    string
	Table  string // the TOML table holding Key ("" for top-level options)
	Reason string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Reason)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Reason)
}

// Load reads path over the defaults and validates the result.
func Load(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, data)
}

// Parse reads TOML data over the defaults; name is used in errors.
func Parse(name string, data []byte) (Config, error) {
	c := Default()
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(&c)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return Config{}, &Error{File: name, Line: pe.Position.Line, Reason: pe.Message}
		}
		// Type mismatches name the key; find its line.
		msg := err.Error()
		key := mismatchKey(msg)
		line := lineOf(data, key)
		if m := lineRe.FindStringSubmatch(msg); m != nil {
			line, _ = strconv.Atoi(m[1])
		}
		return Config{}, &Error{File: name, Line: line, Key: key, Reason: strings.TrimPrefix(msg, "toml: ")}
	}
	if err := exactKeys(name, data, md.Keys()); err != nil {
		return Config{}, err
	}
	if und := md.Undecoded(); len(und) > 0 {
		k := und[0].String()
		last := und[0][len(und[0])-1]
		return Config{}, &Error{File: name, Line: lineOf(data, last), Key: k,
			Reason: fmt.Sprintf("unknown option %q (check its spelling; option names are case-sensitive)", k)}
	}
	if err := c.Validate(); err != nil {
		var ce *Error
		if errors.As(err, &ce) {
			ce.File = name
			ce.Line = lineIn(data, ce.Table, ce.Key)
			return Config{}, ce
		}
		return Config{}, err
	}
	c.source, c.pluginLines = name, map[string]int{}
	for pname := range c.Plugin {
		c.pluginLines[pname] = lineOfKey(data, pname)
	}
	return c, nil
}

// CheckPlugins refuses a [plugin.NAME] whose NAME is not a command (known says which are), with
// the file and line: a typo would leave the command it meant without its settings (an MFA
// requirement, a disabled command) and nobody would know. Names are exact, as commands are.
func (c *Config) CheckPlugins(known []string) error {
	names := make([]string, 0, len(c.Plugin))
	for name := range c.Plugin {
		names = append(names, name)
	}
	sort.Slice(names, func(i, j int) bool {
		return c.pluginLines[names[i]] < c.pluginLines[names[j]] || c.pluginLines[names[i]] == c.pluginLines[names[j]] && names[i] < names[j]
	})
	for _, name := range names {
		if slices.Contains(known, name) {
			continue
		}
		hint := "see --osh help for the command names"
		for _, k := range known {
			if strings.EqualFold(k, name) {
				hint = fmt.Sprintf("did you mean %q? command names are case-sensitive", k)
			}
		}
		return &Error{File: c.source, Line: c.pluginLines[name], Key: name, Table: "plugin",
			Reason: fmt.Sprintf("[plugin.%s]: no command is named %q (%s)", name, name, hint)}
	}
	return nil
}

// exactKeys refuses a key whose spelling differs from its option's name in case only. The TOML
// decoder matches struct fields case-insensitively (maxstartups would set maxStartups), while
// the error for an unknown key promises case-sensitive names: hold it to that promise.
func exactKeys(file string, data []byte, keys []toml.Key) error {
	for _, k := range keys {
		if part, want, bad := caseMismatch(reflect.TypeOf(Config{}), k); bad {
			return &Error{File: file, Line: lineOfKey(data, part), Key: k.String(),
				Reason: fmt.Sprintf("unknown option %q: did you mean %q? option names are case-sensitive", k.String(), want)}
		}
	}
	return nil
}

// caseMismatch walks key through t and returns the first part spelled differently from its
// field's TOML name, and that name. Map keys are the operator's names (any spelling); a part
// that names no field is left to Undecoded, which reports unknown keys.
func caseMismatch(t reflect.Type, key toml.Key) (part, want string, bad bool) {
	for _, part := range key {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
			t = t.Elem()
		}
		switch t.Kind() {
		case reflect.Map:
			t = t.Elem()
			continue
		case reflect.Struct:
		default:
			return "", "", false
		}
		f, ok := fieldByTag(t, part)
		if !ok {
			return "", "", false
		}
		if name := tomlName(f); name != part {
			return part, name, true
		}
		t = f.Type
	}
	return "", "", false
}

// fieldByTag finds the field whose TOML name is name, in any case.
func fieldByTag(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		if f := t.Field(i); f.IsExported() && strings.EqualFold(tomlName(f), name) {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func tomlName(f reflect.StructField) string {
	if tag, _, _ := strings.Cut(f.Tag.Get("toml"), ","); tag != "" {
		return tag
	}
	return f.Name
}

// lineOfKey finds the first line naming key, as an assignment (key = …, also inside an inline
// table), a table header ([a.key]) or a dotted key (key.b = …); 0 when not found.
func lineOfKey(data []byte, key string) int {
	re := regexp.MustCompile(`(?:^|[\s{,.\[])"?` + regexp.QuoteMeta(key) + `"?\s*(?:=|\]|\.)`)
	for i, l := range strings.Split(string(data), "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") && re.MatchString(l) {
			return i + 1
		}
	}
	return 0
}

var (
	mismatchRe = regexp.MustCompile(`(?:'|")([A-Za-z0-9_.]+)(?:'|")`)
	lineRe     = regexp.MustCompile(`line (\d+)`)
)

func mismatchKey(msg string) string {
	if m := mismatchRe.FindStringSubmatch(msg); m != nil {
		parts := strings.Split(m[1], ".")
		return parts[len(parts)-1]
	}
	return ""
}

// lineOf finds the first line that assigns key (key = …); 0 when not found.
func lineOf(data []byte, key string) int {
	if key == "" {
		return 0
	}
	if i := strings.LastIndex(key, "."); i >= 0 {
		key = key[i+1:]
	}
	re := regexp.MustCompile(`^\s*"?` + regexp.QuoteMeta(key) + `"?\s*=`)
	for i, l := range strings.Split(string(data), "\n") {
		if re.MatchString(l) {
			return i + 1
		}
	}
	return 0
}

func bad(key, format string, args ...any) error {
	return &Error{Key: key, Reason: key + ": " + fmt.Sprintf(format, args...)}
}

var knownCiphers = map[string]bool{"aes128-gcm@openssh.com": true, "aes256-gcm@openssh.com": true, "chacha20-poly1305@openssh.com": true,
	"aes128-ctr": true, "aes192-ctr": true, "aes256-ctr": true}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

var mfaPolicies = map[string]bool{"disabled": true, "enabled": true, "any-required": true, "totp-required": true, "password-required": true}
var mfaRequired = map[string]bool{"": true, "none": true, "any": true, "password": true, "totp": true, "webhook": true, "approval": true}

// Validate checks every value; the first problem is returned.
func (c *Config) Validate() error {
	if !regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`).MatchString(c.BastionName) {
		return bad("bastionName", "%q must be 1 to 64 letters, digits, '.', '_' or '-'", c.BastionName)
	}
	if c.Store != "" && !strings.HasPrefix(c.Store, "postgres://") && !strings.HasPrefix(c.Store, "postgresql://") {
		// Not echoed: the value may hold a password.
		return bad("store", "must be empty (SQLite in the data directory) or a postgres://… URL")
	}
	if c.Node != "" && !regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`).MatchString(c.Node) {
		return bad("node", "%q must be 1 to 64 letters, digits, '.', '_' or '-'", c.Node)
	}
	if _, _, err := splitHostPort(c.Listen); err != nil {
		return bad("listen", "%v", err)
	}
	if c.BastionCommand == "" || len(c.BastionCommand) > 512 || strings.ContainsFunc(c.BastionCommand, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return bad("bastionCommand", "must be 1 to 512 characters on one line, e.g. \"ssh ACCOUNT@bastion.example -p 2222 -t --\"")
	}
	if _, err := ParseMaxStartups(c.MaxStartups); err != nil {
		return bad("maxStartups", "%v", err)
	}
	if c.LoginGraceTime < 1 || c.LoginGraceTime > 600 {
		return bad("loginGraceTime", "%d must be between 1 and 600 seconds", c.LoginGraceTime)
	}
	if err := c.validatePerSource(); err != nil {
		return err
	}
	if c.MaxSessions < 1 || c.MaxSessions > 1000 {
		return bad("maxSessions", "%d must be between 1 and 1000", c.MaxSessions)
	}
	if c.MaxCommandLine < 1024 || c.MaxCommandLine > 1<<20 {
		return bad("maxCommandLineBytes", "%d must be between 1024 and 1048576", c.MaxCommandLine)
	}
	if len(c.Ciphers) == 0 {
		return bad("ciphers", "at least one cipher is needed")
	}
	for _, ci := range c.Ciphers {
		if !knownCiphers[ci] {
			return bad("ciphers", "%q is not a supported cipher (%s)", ci, strings.Join(sortedKeys(knownCiphers), ", "))
		}
	}
	if err := validAlgorithms(c); err != nil {
		return err
	}
	if !mfaPolicies[c.AccountMFAPolicy] {
		return bad("accountMFAPolicy", "%q must be one of disabled, enabled, any-required, totp-required, password-required", c.AccountMFAPolicy)
	}
	if c.MFAMode != "immediate" && c.MFAMode != "jit" {
		return bad("MFAMode", "%q must be immediate or jit", c.MFAMode)
	}
	if c.MFATOTPWindow < 0 || c.MFATOTPWindow > 10 {
		return bad("MFATOTPWindow", "%d must be between 0 and 10 steps", c.MFATOTPWindow)
	}
	if c.MFARateLimitAttempts < 0 || c.MFARateLimitSeconds < 1 || c.MFARateLimitSeconds > 86400 {
		return bad("MFARateLimitAttempts", "%d tries per %d seconds: tries must be 0 (no rate limit) or more, seconds 1 to 86400", c.MFARateLimitAttempts, c.MFARateLimitSeconds)
	}
	if c.MFASourceRateLimitAttempts < 1 || c.MFASourceRateLimitSeconds < 1 || c.MFASourceRateLimitSeconds > 86400 {
		return bad("MFASourceRateLimitAttempts", "%d tries per %d seconds: both must be 1 or more (seconds at most 86400)", c.MFASourceRateLimitAttempts, c.MFASourceRateLimitSeconds)
	}
	if c.MFASourceTableMax < 1 {
		return bad("MFASourceTableMax", "%d must be 1 or more", c.MFASourceTableMax)
	}
	if c.MFASourceLockCap < 0 {
		return bad("MFASourceLockCap", "%d must be 0 or more (it is used at most MFALockAfterFailures−1)", c.MFASourceLockCap)
	}
	// Days and seconds become time.Durations, which wrap past 292 years: at most 100 years.
	const maxDays, maxSeconds = 100 * 365, 100 * 365 * 86400
	for _, kv := range []struct {
		key      string
		v        int
		min, max int
	}{
		{"accountMaxInactiveDays", c.AccountMaxInactiveDays, 0, maxDays},
		{"MFAPasswordMinDays", c.MFAPasswordMinDays, 0, maxDays},
		{"MFAPasswordMaxDays", c.MFAPasswordMaxDays, 0, maxDays},
		{"MFAPasswordWarnDays", c.MFAPasswordWarnDays, 0, maxDays},
		{"MFAPasswordInactiveDays", c.MFAPasswordInactiveDays, -1, maxDays},
		{"MFALockAfterFailures", c.MFALockAfterFailures, 0, 1 << 30},
		{"MFALockFailInterval", c.MFALockFailInterval, 0, maxSeconds},
		{"MFALockUnlockTime", c.MFALockUnlockTime, 0, maxSeconds},
		{"dnsSupportLevel", c.DNSSupportLevel, 0, 2},
		{"interactiveModeTimeout", c.InteractiveModeTimeout, 0, maxSeconds},
		{"interactiveModeProactiveMFAexpiration", c.InteractiveModeProactiveMFAexpiration, 1, maxSeconds},
		{"idleLockTimeout", c.IdleLockTimeout, 0, maxSeconds},
		{"idleKillTimeout", c.IdleKillTimeout, 0, maxSeconds},
		{"warnBeforeLockSeconds", c.WarnBeforeLockSeconds, 0, maxSeconds},
		{"warnBeforeKillSeconds", c.WarnBeforeKillSeconds, 0, maxSeconds},
	} {
		if kv.v < kv.min {
			return bad(kv.key, "%d must be %d or more", kv.v, kv.min)
		}
		if kv.v > kv.max {
			return bad(kv.key, "%d is out of range: at most %d", kv.v, kv.max)
		}
	}
	if c.IdleKillTimeout > 0 && c.IdleLockTimeout > 0 && c.IdleKillTimeout <= c.IdleLockTimeout {
		return bad("idleKillTimeout", "%d must be greater than idleLockTimeout (%d)", c.IdleKillTimeout, c.IdleLockTimeout)
	}
	switch c.DefaultAccountEgressKeyAlgorithm {
	case "ed25519", "ecdsa", "rsa":
	default:
		return bad("defaultAccountEgressKeyAlgorithm", "%q must be ed25519, ecdsa or rsa", c.DefaultAccountEgressKeyAlgorithm)
	}
	for _, f := range c.EgressKeysFrom {
		if f == "" || strings.ContainsAny(f, "\" ,") {
			return bad("egressKeysFrom", "%q is not an address or prefix", f)
		}
	}
	for _, f := range c.IngressKeysFrom {
		if _, err := netip.ParsePrefix(f); err != nil {
			if _, err := netip.ParseAddr(f); err != nil {
				return bad("ingressKeysFrom", "%q is not an IP address or prefix", f)
			}
		}
	}
	if c.MinimumIngressRsaKeySize < 2048 || c.MinimumIngressRsaKeySize > 16384 {
		return bad("minimumIngressRsaKeySize", "%d must be between 2048 and 16384 (gatehouse never accepts weaker RSA keys)", c.MinimumIngressRsaKeySize)
	}
	if c.MaximumIngressRsaKeySize < c.MinimumIngressRsaKeySize || c.MaximumIngressRsaKeySize > 16384 {
		return bad("maximumIngressRsaKeySize", "%d must be between minimumIngressRsaKeySize (%d) and 16384", c.MaximumIngressRsaKeySize, c.MinimumIngressRsaKeySize)
	}
	if p := c.ExtValidationProgram; p != "" && (!filepath.IsAbs(p) || strings.ContainsAny(p, " \t\n")) {
		return bad("accountExternalValidationProgram", "%q must be an absolute path to a program", p)
	}
	switch c.RecordingFormat {
	case "gatehouse", "asciicast", "ttyrec":
	default:
		return bad("recordingFormat", "%q must be gatehouse, asciicast or ttyrec", c.RecordingFormat)
	}
	if _, err := regexp.Compile(c.TtyrecStealthStdoutPattern); err != nil {
		return bad("ttyrecStealthStdoutPattern", "not a valid regular expression: %v", err)
	}
	if c.TransferRecording != "metadata" && c.TransferRecording != "full" {
		return bad("transferRecording", "%q must be \"metadata\" or \"full\"", c.TransferRecording)
	}
	if c.RecordingMaxBytes != 0 && (c.RecordingMaxBytes < 1<<20 || c.RecordingMaxBytes > 1<<40) {
		return bad("recordingMaxBytes", "%d must be 0 (no cap) or between 1048576 (1 MiB) and 1099511627776 (1 TiB)", c.RecordingMaxBytes)
	}
	if c.AuditCheckpointEvery < 1 || c.AuditCheckpointEvery > 1000000 {
		return bad("auditCheckpointEvery", "%d must be between 1 and 1000000", c.AuditCheckpointEvery)
	}
	if c.SyslogAddress != "" && !strings.HasPrefix(c.SyslogAddress, "udp://") && !strings.HasPrefix(c.SyslogAddress, "tcp://") && !strings.HasPrefix(c.SyslogAddress, "unix://") {
		return bad("syslogAddress", "%q must start with udp://, tcp:// or unix://", c.SyslogAddress)
	}
	if c.SyslogFormat != "bastion" && c.SyslogFormat != "gatehouse" {
		return bad("syslogFormat", "%q must be \"bastion\" (The Bastion's lines) or \"gatehouse\"", c.SyslogFormat)
	}
	if _, ok := SyslogFacilities[c.SyslogFacility]; !ok {
		return bad("syslogFacility", "%q is not a syslog facility: give e.g. \"local7\", \"auth\" or \"daemon\"", c.SyslogFacility)
	}
	if c.SyslogDescription == "" || len(c.SyslogDescription) > 48 || strings.ContainsFunc(c.SyslogDescription, func(r rune) bool {
		return r <= ' ' || r > '~' || r == ':' || r == '[' || r == ']'
	}) {
		return bad("syslogDescription", "%q must be 1 to 48 printable characters without blanks, ':' or brackets (e.g. \"bastion\")", c.SyslogDescription)
	}
	if c.GCPercent < 10 || c.GCPercent > 1000 {
		return bad("gcPercent", "%d must be between 10 and 1000", c.GCPercent)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return bad("logLevel", "%q must be debug, info, warn or error", c.LogLevel)
	}
	switch c.LogFormat {
	case "logfmt", "json":
	default:
		return bad("logFormat", "%q must be logfmt or json", c.LogFormat)
	}
	if c.MetricsListen != "" {
		if _, _, err := splitHostPort(c.MetricsListen); err != nil {
			return bad("metricsListen", "%v", err)
		}
	}
	for name, p := range c.Plugin {
		if !mfaRequired[p.MFARequired] {
			return &Error{Key: "mfa_required", Table: "plugin." + name,
				Reason: fmt.Sprintf("mfa_required: plugin %s: %q must be none, any, password, totp, webhook or approval", name, p.MFARequired)}
		}
		if p.WidestV4Prefix < 0 || p.WidestV4Prefix > 32 {
			return &Error{Key: "widest_v4_prefix", Table: "plugin." + name,
				Reason: fmt.Sprintf("widest_v4_prefix: plugin %s: %d must be between 0 and 32", name, p.WidestV4Prefix)}
		}
		if p.WidestV6Prefix < 0 || p.WidestV6Prefix > 128 {
			return &Error{Key: "widest_v6_prefix", Table: "plugin." + name,
				Reason: fmt.Sprintf("widest_v6_prefix: plugin %s: %d must be between 0 and 128", name, p.WidestV6Prefix)}
		}
	}
	if c.ApprovalListen != "" {
		if _, _, err := splitHostPort(c.ApprovalListen); err != nil {
			return bad("approvalListen", "%v", err)
		}
	}
	if err := c.Sync.validate(); err != nil {
		return err
	}
	if err := c.PAM.validate(); err != nil {
		return err
	}
	if err := c.Web.validate(); err != nil {
		return err
	}
	if err := c.Archive.validate(); err != nil {
		return err
	}
	if err := c.Notify.validate(c.ApprovalListen); err != nil {
		return err
	}
	return c.Notify.checkApprovalIdentity(c.ApprovalListen, c.Web.Listen != "")
}

func splitHostPort(addr string) (string, int, error) {
	i := strings.LastIndex(addr, ":")
	if i < 0 {
		return "", 0, fmt.Errorf("%q must be host:port", addr)
	}
	port, err := strconv.Atoi(addr[i+1:])
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("%q has an invalid port", addr)
	}
	return addr[:i], port, nil
}

// MaxStartups is sshd's start:rate:full rule for unauthenticated connections: beyond Start, new
// ones are refused with probability Rate% rising linearly to 100% at Full.
type MaxStartups struct{ Start, Rate, Full int }

// ParseMaxStartups parses "start:rate:full" or a single number.
func ParseMaxStartups(s string) (MaxStartups, error) {
	parts := strings.Split(s, ":")
	nums := make([]int, len(parts))
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return MaxStartups{}, fmt.Errorf("%q must be start:rate:full, e.g. 50:30:500", s)
		}
		nums[i] = n
	}
	switch len(nums) {
	case 1:
		return MaxStartups{nums[0], 100, nums[0]}, validMS(MaxStartups{nums[0], 100, nums[0]}, s)
	case 3:
		m := MaxStartups{nums[0], nums[1], nums[2]}
		return m, validMS(m, s)
	}
	return MaxStartups{}, fmt.Errorf("%q must be start:rate:full, e.g. 50:30:500", s)
}

func validMS(m MaxStartups, s string) error {
	if m.Start < 1 || m.Full < m.Start || m.Rate > 100 {
		return fmt.Errorf("%q: need 1 <= start <= full and rate <= 100", s)
	}
	return nil
}

// validatePerSource checks the per-source limits and penalties.
func (c *Config) validatePerSource() error {
	if c.PerSourceMaxStartups < 0 || c.PerSourceMaxStartups > 100000 {
		return bad("perSourceMaxStartups", "%d must be between 0 (no limit) and 100000", c.PerSourceMaxStartups)
	}
	for _, p := range []struct {
		key string
		v   int
	}{{"perSourcePenaltyAuthFail", c.PerSourcePenaltyAuthFail}, {"perSourcePenaltyNoAuth", c.PerSourcePenaltyNoAuth},
		{"perSourcePenaltyGraceExceeded", c.PerSourcePenaltyGraceExceeded}, {"perSourcePenaltyMin", c.PerSourcePenaltyMin}} {
		if p.v < 0 || p.v > 86400 {
			return bad(p.key, "%d must be between 0 and 86400 seconds", p.v)
		}
	}
	if c.PerSourcePenaltyMax < 1 || c.PerSourcePenaltyMax > 86400 {
		return bad("perSourcePenaltyMax", "%d must be between 1 and 86400 seconds", c.PerSourcePenaltyMax)
	}
	if c.PerSourcePenaltyMin > c.PerSourcePenaltyMax {
		return bad("perSourcePenaltyMin", "%d must not exceed perSourcePenaltyMax (%d)", c.PerSourcePenaltyMin, c.PerSourcePenaltyMax)
	}
	for _, e := range c.PerSourcePenaltyExemptList {
		if _, err := netip.ParsePrefix(e); err != nil {
			if _, err := netip.ParseAddr(e); err != nil {
				return bad("perSourcePenaltyExemptList", "%q must be an address or a prefix such as 10.0.0.0/8", e)
			}
		}
	}
	for _, e := range c.ProxyProtocolFrom {
		if _, err := netip.ParsePrefix(e); err != nil {
			if a, err := netip.ParseAddr(e); err != nil || a.Zone() != "" {
				return bad("proxyProtocolFrom", "%q must be an address or a prefix such as 10.0.0.5/32", e)
			}
		}
	}
	if c.PerSourceMaxSources < 1 || c.PerSourceMaxSources > 10000000 {
		return bad("perSourceMaxSources", "%d must be between 1 and 10000000", c.PerSourceMaxSources)
	}
	return nil
}

// SyslogFacilities are the facility names syslogFacility accepts, with their codes (RFC 5424).
var SyslogFacilities = map[string]int{"kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6,
	"news": 7, "uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11, "local0": 16, "local1": 17, "local2": 18,
	"local3": 19, "local4": 20, "local5": 21, "local6": 22, "local7": 23}

// AlwaysActive reports whether account is always active through the configuration
// (alwaysActiveAccounts); its own flag is the store's.
func (c *Config) AlwaysActive(account string) bool {
	return slices.Contains(c.AlwaysActiveAccounts, account)
}
