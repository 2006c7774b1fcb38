package config

import (
	"fmt"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gatehouse/internal/access"
)

// Sync is the [sync] block: sources of truth for accounts and their login keys
// (internal/keysync, docs/sync.md).
type Sync struct {
	// Interval between runs (a run also happens at start and with `gatehouse sync`); default 5m.
	Interval string `toml:"interval"`
	// MaxRemoveShare is the share (0–1) of a source's active accounts one run may freeze; a run
	// that would freeze more changes nothing and raises an alert. Default 0.1.
	MaxRemoveShare float64 `toml:"maxRemoveShare"`
	// Sources, as [[sync.source]] tables.
	Sources []SyncSource `toml:"source"`
}

// SyncSource is one [[sync.source]] table.
type SyncSource struct {
	// Name identifies the source in the store (the accounts it manages), audit events, alerts
	// and metrics: renaming it orphans its accounts (they are then left alone).
	Name string `toml:"name"`
	// Kind: s3, dir or https.
	Kind string `toml:"kind"`
	// s3: the bucket and the prefix under which PREFIX<account>.pub objects live (give the
	// trailing slash: "public-keys/"); Endpoint for an S3-compatible server (path-style
	// addressing, https except on loopback); Region; credentials literal or from the environment
	// (…_env), else the AWS default chain (environment, ~/.aws/credentials, instance role).
	Bucket       string `toml:"bucket"`
	Prefix       string `toml:"prefix"`
	Endpoint     string `toml:"endpoint"`
	Region       string `toml:"region"`
	AccessKey    string `toml:"access_key"`
	AccessKeyEnv string `toml:"access_key_env"`
	SecretKey    string `toml:"secret_key"`
	SecretKeyEnv string `toml:"secret_key_env"`
	// dir: a directory holding <account>.pub (and <account>.groups) files.
	Path string `toml:"path"`
	// https: a URL template with {account}, fetched for each of Accounts.
	URL      string   `toml:"url"`
	Accounts []string `toml:"accounts"`
	// CAFile (s3, https): PEM certificates to trust instead of the system's.
	CAFile string `toml:"ca_file"`
	// Timeout bounds one whole fetch of the source (default 60s).
	Timeout string `toml:"timeout"`
}

// SyncKinds are the kinds a source may have.
var SyncKinds = []string{"s3", "dir", "https"}

// DefaultSyncInterval and DefaultMaxRemoveShare are [sync]'s defaults.
const (
	DefaultSyncInterval   = 5 * time.Minute
	DefaultMaxRemoveShare = 0.1
	DefaultSyncTimeout    = 60 * time.Second
)

var bucketRe = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// IntervalDuration is the interval between runs.
func (s Sync) IntervalDuration() time.Duration {
	d, err := time.ParseDuration(s.Interval)
	if err != nil || s.Interval == "" {
		return DefaultSyncInterval
	}
	return d
}

// TimeoutDuration bounds one fetch of the source.
func (s SyncSource) TimeoutDuration() time.Duration {
	d, err := time.ParseDuration(s.Timeout)
	if err != nil || s.Timeout == "" {
		return DefaultSyncTimeout
	}
	return d
}

// Credentials returns the S3 access and secret keys, from the literals or the environment.
func (s SyncSource) Credentials() (access, secret string) {
	return secretValue(s.AccessKey, s.AccessKeyEnv), secretValue(s.SecretKey, s.SecretKeyEnv)
}

// validate checks the [sync] block. A source's errors name its table, sync.source[i], which
// lineIn finds as the i-th [[sync.source]].
func (s *Sync) validate() error {
	if err := checkDuration("sync", "interval", s.Interval, 10*time.Second, 24*time.Hour); err != nil {
		return err
	}
	if s.MaxRemoveShare < 0 || s.MaxRemoveShare > 1 {
		return badIn("sync", "maxRemoveShare", "%g must be between 0 and 1 (a share of the accounts a source manages)", s.MaxRemoveShare)
	}
	names := map[string]bool{}
	for i, src := range s.Sources {
		table := fmt.Sprintf("sync.source[%d]", i)
		if !channelNameRe.MatchString(src.Name) {
			return badIn(table, "name", "%q must be 1 to 64 letters, digits, '_' or '-'", src.Name)
		}
		if names[src.Name] {
			return badIn(table, "name", "%q is used by another source", src.Name)
		}
		names[src.Name] = true
		if !slices.Contains(SyncKinds, src.Kind) {
			return badIn(table, "kind", "%q must be one of %s", src.Kind, strings.Join(SyncKinds, ", "))
		}
		if err := checkDuration(table, "timeout", src.Timeout, time.Second, 10*time.Minute); err != nil {
			return err
		}
		if err := src.validateKind(table); err != nil {
			return err
		}
		if src.CAFile != "" {
			if _, err := os.Stat(src.CAFile); err != nil {
				return badIn(table, "ca_file", "%v", err)
			}
		}
	}
	return nil
}

func (src SyncSource) validateKind(table string) error {
	// Options of the other kinds are refused: a bucket under kind = "dir" is a mistake that
	// would otherwise be silently ignored.
	set := map[string]bool{"bucket": src.Bucket != "", "prefix": src.Prefix != "", "endpoint": src.Endpoint != "",
		"region": src.Region != "", "access_key": src.AccessKey != "", "access_key_env": src.AccessKeyEnv != "",
		"secret_key": src.SecretKey != "", "secret_key_env": src.SecretKeyEnv != "", "path": src.Path != "",
		"url": src.URL != "", "accounts": src.Accounts != nil, "ca_file": src.CAFile != ""}
	allowed := map[string][]string{
		"s3":    {"bucket", "prefix", "endpoint", "region", "access_key", "access_key_env", "secret_key", "secret_key_env", "ca_file"},
		"dir":   {"path"},
		"https": {"url", "accounts", "ca_file"},
	}[src.Kind]
	for _, k := range []string{"bucket", "prefix", "endpoint", "region", "access_key", "access_key_env", "secret_key", "secret_key_env", "path", "url", "accounts", "ca_file"} {
		if set[k] && !slices.Contains(allowed, k) {
			return badIn(table, k, "%s is not an option of a %s source", k, src.Kind)
		}
	}
	switch src.Kind {
	case "s3":
		if !bucketRe.MatchString(src.Bucket) {
			return badIn(table, "bucket", "%q is not a bucket name (3 to 63 lowercase letters, digits, '.' or '-')", src.Bucket)
		}
		if strings.HasPrefix(src.Prefix, "/") {
			return badIn(table, "prefix", "%q must not start with '/' (S3 keys have no leading slash)", src.Prefix)
		}
		if src.Endpoint != "" {
			if err := secureURL(src.Endpoint); err != nil {
				return badIn(table, "endpoint", "%v", err)
			}
		}
		if src.AccessKey != "" && src.AccessKeyEnv != "" || src.SecretKey != "" && src.SecretKeyEnv != "" {
			return badIn(table, "access_key", "give a key either literally or by environment variable (…_env), not both")
		}
		for _, kv := range [][2]string{{"access_key_env", src.AccessKeyEnv}, {"secret_key_env", src.SecretKeyEnv}} {
			if kv[1] != "" && os.Getenv(kv[1]) == "" {
				return badIn(table, kv[0], "environment variable %s is empty or not set", kv[1])
			}
		}
		a, s := src.Credentials()
		if (a == "") != (s == "") {
			return badIn(table, "secret_key", "give both the access key and the secret key, or neither (the AWS default chain)")
		}
	case "dir":
		if src.Path == "" {
			return badIn(table, "path", "a dir source needs path, the directory of <account>.pub files")
		}
	case "https":
		if !strings.Contains(src.URL, "{account}") {
			return badIn(table, "url", "%q must contain {account}, e.g. https://keys.example/{account}.keys", src.URL)
		}
		if err := secureURL(strings.ReplaceAll(src.URL, "{account}", "x")); err != nil {
			return badIn(table, "url", "%v", err)
		}
		if len(src.Accounts) == 0 {
			return badIn(table, "accounts", "an https source needs the list of accounts to fetch")
		}
		for _, a := range src.Accounts {
			if err := access.ValidateAccountName(a); err != nil {
				return badIn(table, "accounts", "%v", err)
			}
		}
	}
	return nil
}

// secureURL accepts https URLs, and http only to a loopback address: keys fetched over plain
// HTTP could be replaced on the way, and a replaced key is a login.
func secureURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%q is not a URL", s)
	}
	if u.Scheme == "https" || u.Scheme == "http" && isLoopback(u.Hostname()) {
		return nil
	}
	return fmt.Errorf("%q must be an https URL (http only on loopback)", s)
}

var arrayTableRe = regexp.MustCompile(`^(.+)\[(\d+)\]$`)

// lineInArray finds key inside the index-th [[table]] (an array of tables); the header's line
// when the key is not written there, 0 when there is no such table.
func lineInArray(data []byte, table string, index int, key string) int {
	header := regexp.MustCompile(`^\s*\[\[\s*` + regexp.QuoteMeta(table) + `\s*\]\]`)
	anyHeader := regexp.MustCompile(`^\s*\[`)
	assign := regexp.MustCompile(`^\s*"?` + regexp.QuoteMeta(key) + `"?\s*=`)
	n, in, start := -1, false, 0
	for i, l := range strings.Split(string(data), "\n") {
		switch {
		case header.MatchString(l):
			n++
			in = n == index
			if in {
				start = i + 1
			}
		case anyHeader.MatchString(l):
			in = false
		case in && assign.MatchString(l):
			return i + 1
		}
	}
	return start
}

// arrayTable splits "sync.source[2]" into its table and index.
func arrayTable(table string) (string, int, bool) {
	m := arrayTableRe.FindStringSubmatch(table)
	if m == nil {
		return "", 0, false
	}
	i, err := strconv.Atoi(m[2])
	return m[1], i, err == nil
}
