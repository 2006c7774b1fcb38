package config

import (
	"os"
	"strings"
	"time"
)

// Archive is the [archive] block: recordings and audit log files shipped to an S3-compatible
// bucket once closed (internal/archive, docs/cluster.md). Empty bucket: off.
type Archive struct {
	Bucket       string `toml:"bucket"`
	Prefix       string `toml:"prefix"`
	Endpoint     string `toml:"endpoint"`
	Region       string `toml:"region"`
	AccessKey    string `toml:"access_key"`
	AccessKeyEnv string `toml:"access_key_env"`
	SecretKey    string `toml:"secret_key"`
	SecretKeyEnv string `toml:"secret_key_env"`
	CAFile       string `toml:"ca_file"`
	// Interval between shipping passes (closed recordings are also shipped as they close); default 30s.
	Interval string `toml:"interval"`
	// RetentionDays sets an object-lock retention (governance mode) on each object when the
	// bucket has object lock enabled; 0: none.
	RetentionDays int `toml:"retention_days"`
	// MaxBacklogBytes refuses new sessions while this many bytes wait on local disk to be
	// shipped (the bucket is down); 0: 1 GiB.
	MaxBacklogBytes int64 `toml:"max_backlog_bytes"`
	// MinFreeBytes refuses new sessions when the recordings' file system has less free space; 0: 256 MiB.
	MinFreeBytes int64 `toml:"min_free_bytes"`
}

// Defaults of [archive].
const (
	DefaultArchiveInterval   = 30 * time.Second
	DefaultArchiveMaxBacklog = 1 << 30
	DefaultArchiveMinFree    = 256 << 20
)

// Enabled says whether the archive is configured.
func (a Archive) Enabled() bool { return a.Bucket != "" }

// IntervalDuration is the time between shipping passes.
func (a Archive) IntervalDuration() time.Duration {
	d, err := time.ParseDuration(a.Interval)
	if err != nil || a.Interval == "" {
		return DefaultArchiveInterval
	}
	return d
}

// Credentials returns the S3 access and secret keys, from the literals or the environment.
func (a Archive) Credentials() (access, secret string) {
	return secretValue(a.AccessKey, a.AccessKeyEnv), secretValue(a.SecretKey, a.SecretKeyEnv)
}

// Budget returns the backlog and free-space limits, defaults applied.
func (a Archive) Budget() (maxBacklog, minFree int64) {
	maxBacklog, minFree = a.MaxBacklogBytes, a.MinFreeBytes
	if maxBacklog == 0 {
		maxBacklog = DefaultArchiveMaxBacklog
	}
	if minFree == 0 {
		minFree = DefaultArchiveMinFree
	}
	return maxBacklog, minFree
}

func (a *Archive) validate() error {
	const t = "archive"
	set := a.Prefix != "" || a.Endpoint != "" || a.Region != "" || a.AccessKey != "" || a.AccessKeyEnv != "" ||
		a.SecretKey != "" || a.SecretKeyEnv != "" || a.CAFile != "" || a.Interval != "" || a.RetentionDays != 0 ||
		a.MaxBacklogBytes != 0 || a.MinFreeBytes != 0
	if a.Bucket == "" {
		if set {
			return badIn(t, "bucket", "the archive needs a bucket (its other options are set)")
		}
		return nil
	}
	if !bucketRe.MatchString(a.Bucket) {
		return badIn(t, "bucket", "%q is not a bucket name (3 to 63 lowercase letters, digits, '.' or '-')", a.Bucket)
	}
	if strings.HasPrefix(a.Prefix, "/") || strings.Contains(a.Prefix, "..") {
		return badIn(t, "prefix", "%q must not start with '/' nor contain '..'", a.Prefix)
	}
	if a.Endpoint != "" {
		if err := secureURL(a.Endpoint); err != nil {
			return badIn(t, "endpoint", "%v", err)
		}
	}
	// A key given both ways is read from the environment (…_env wins), as secretValue does.
	for _, kv := range [][2]string{{"access_key_env", a.AccessKeyEnv}, {"secret_key_env", a.SecretKeyEnv}} {
		if kv[1] != "" && os.Getenv(kv[1]) == "" {
			return badIn(t, kv[0], "environment variable %s is empty or not set", kv[1])
		}
	}
	if ak, sk := a.Credentials(); (ak == "") != (sk == "") {
		return badIn(t, "secret_key", "give both the access key and the secret key, or neither (the AWS default chain)")
	}
	if a.CAFile != "" {
		if _, err := os.Stat(a.CAFile); err != nil {
			return badIn(t, "ca_file", "%v", err)
		}
	}
	if err := checkDuration(t, "interval", a.Interval, time.Second, time.Hour); err != nil {
		return err
	}
	if a.RetentionDays < 0 || a.RetentionDays > 36500 {
		return badIn(t, "retention_days", "%d must be between 0 and 36500", a.RetentionDays)
	}
	if a.MaxBacklogBytes < 0 {
		return badIn(t, "max_backlog_bytes", "%d must not be negative", a.MaxBacklogBytes)
	}
	if a.MinFreeBytes < 0 {
		return badIn(t, "min_free_bytes", "%d must not be negative", a.MinFreeBytes)
	}
	return nil
}
