package config

import (
	"testing"
	"time"
)

const s3Source = "[[sync.source]]\nname = \"s3main\"\nkind = \"s3\"\nbucket = \"bastion-keys\"\nprefix = \"public-keys/\"\n"

// TestSyncRefusals: each bad [sync] value stops the start at its file:line, inside the right
// [[sync.source]] when there are several.
func TestSyncRefusals(t *testing.T) {
	t.Setenv("GH_SYNC_EMPTY", "")
	for _, tc := range []struct {
		name, data string
		line       int
		reason     string
	}{
		{"interval", "[sync]\ninterval = \"1s\"\n", 2, "sync.interval: 1s must be between 10s and 24h0m0s"},
		{"share", "[sync]\nmaxRemoveShare = 1.5\n", 2, "sync.maxRemoveShare: 1.5 must be between 0 and 1"},
		{"kind", "[[sync.source]]\nname = \"a\"\nkind = \"ftp\"\n", 3, "sync.source[0].kind: \"ftp\" must be one of s3, dir, https"},
		{"name", "[[sync.source]]\nname = \"a b\"\nkind = \"dir\"\n", 2, "sync.source[0].name"},
		{"duplicate", "[[sync.source]]\nname = \"a\"\nkind = \"dir\"\npath = \"/x\"\n[[sync.source]]\nname = \"a\"\nkind = \"dir\"\npath = \"/y\"\n", 6, "sync.source[1].name: \"a\" is used by another source"},
		{"option of another kind", s3Source + "[[sync.source]]\nname = \"b\"\nkind = \"dir\"\npath = \"/x\"\nbucket = \"x\"\n", 10, "sync.source[1].bucket: bucket is not an option of a dir source"},
		{"bucket", "[[sync.source]]\nname = \"a\"\nkind = \"s3\"\nbucket = \"Bad_Bucket\"\n", 4, "is not a bucket name"},
		{"prefix", "[[sync.source]]\nname = \"a\"\nkind = \"s3\"\nbucket = \"abc\"\nprefix = \"/keys/\"\n", 5, "must not start with '/'"},
		{"plain http endpoint", s3Source + "endpoint = \"http://minio.example:9000\"\n", 6, "must be an https URL (http only on loopback)"},
		{"one key only", s3Source + "access_key = \"AK\"\n", 1, "give both the access key and the secret key"},
		{"both literal and env", s3Source + "access_key = \"AK\"\naccess_key_env = \"X\"\n", 6, "not both"},
		{"empty env", s3Source + "access_key_env = \"GH_SYNC_EMPTY\"\nsecret_key = \"s\"\n", 6, "environment variable GH_SYNC_EMPTY is empty"},
		{"dir without path", "[[sync.source]]\nname = \"a\"\nkind = \"dir\"\n", 1, "a dir source needs path"},
		{"url without account", "[[sync.source]]\nname = \"a\"\nkind = \"https\"\nurl = \"https://k.example/keys\"\naccounts = [\"alice\"]\n", 4, "must contain {account}"},
		{"plain http url", "[[sync.source]]\nname = \"a\"\nkind = \"https\"\nurl = \"http://k.example/{account}.keys\"\naccounts = [\"alice\"]\n", 4, "https URL"},
		{"bad account", "[[sync.source]]\nname = \"a\"\nkind = \"https\"\nurl = \"https://k.example/{account}.keys\"\naccounts = [\"-x\"]\n", 5, "sync.source[0].accounts"},
		{"no accounts", "[[sync.source]]\nname = \"a\"\nkind = \"https\"\nurl = \"https://k.example/{account}.keys\"\n", 1, "needs the list of accounts"},
		{"ca_file missing", "[[sync.source]]\nname = \"a\"\nkind = \"https\"\nurl = \"https://k.example/{account}.keys\"\naccounts = [\"alice\"]\nca_file = \"/nonexistent/ca.pem\"\n", 6, "ca_file"},
		{"unknown key", s3Source + "buckett = \"x\"\n", 6, "unknown option"},
		{"case", "[[sync.source]]\nName = \"a\"\n", 2, `did you mean "name"`},
	} {
		t.Run(tc.name, func(t *testing.T) { expectRefusal(t, tc.data, tc.line, tc.reason) })
	}
}

func TestSyncDefaultsAndValues(t *testing.T) {
	c, err := Parse("g.toml", []byte(s3Source+"endpoint = \"http://127.0.0.1:7070\"\naccess_key = \"AK\"\nsecret_key = \"SK\"\n"+
		"[[sync.source]]\nname = \"gh\"\nkind = \"https\"\nurl = \"https://github.com/{account}.keys\"\naccounts = [\"alice\"]\ntimeout = \"5s\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Sync.IntervalDuration() != 5*time.Minute || c.Sync.MaxRemoveShare != 0.1 || len(c.Sync.Sources) != 2 {
		t.Fatalf("defaults: %+v", c.Sync)
	}
	if a, s := c.Sync.Sources[0].Credentials(); a != "AK" || s != "SK" {
		t.Fatalf("credentials %q %q", a, s)
	}
	if c.Sync.Sources[1].TimeoutDuration() != 5*time.Second || c.Sync.Sources[0].TimeoutDuration() != DefaultSyncTimeout {
		t.Fatal("timeouts")
	}
	d := Default()
	if len(d.Sync.Sources) != 0 || d.Sync.validate() != nil {
		t.Fatal("the default has no source and is valid")
	}
}
