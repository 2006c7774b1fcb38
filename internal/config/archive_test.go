package config

import (
	"strings"
	"testing"
)

// TestArchiveRefusals: each bad [archive] option is refused with file:line and the reason;
// nothing is refused without the block.
func TestArchiveRefusals(t *testing.T) {
	t.Setenv("GH_ARCHIVE_EMPTY", "")
	for _, tc := range []struct {
		name, data string
		line       int
		reason     string
	}{
		{"options without bucket", "[archive]\nprefix = \"a/\"\n", 0, "the archive needs a bucket"},
		{"bad bucket", "[archive]\nbucket = \"Bad_Bucket\"\n", 2, "is not a bucket name"},
		{"leading slash", "[archive]\nbucket = \"b-1\"\nprefix = \"/x\"\n", 3, "must not start with '/'"},
		{"dot dot", "[archive]\nbucket = \"b-1\"\nprefix = \"a/../b\"\n", 3, "nor contain '..'"},
		{"plain http", "[archive]\nbucket = \"b-1\"\nendpoint = \"http://s3.example\"\n", 3, "endpoint"},
		{"empty env", "[archive]\nbucket = \"b-1\"\naccess_key_env = \"GH_ARCHIVE_EMPTY\"\nsecret_key = \"s\"\n", 3, "is empty or not set"},
		{"half credentials", "[archive]\nbucket = \"b-1\"\naccess_key = \"a\"\n", 0, "give both the access key and the secret key"},
		{"missing ca", "[archive]\nbucket = \"b-1\"\nca_file = \"/nonexistent/ca.pem\"\n", 3, "ca_file"},
		{"interval", "[archive]\nbucket = \"b-1\"\ninterval = \"1ms\"\n", 3, "must be between"},
		{"retention", "[archive]\nbucket = \"b-1\"\nretention_days = -1\n", 3, "retention_days"},
		{"budget", "[archive]\nbucket = \"b-1\"\nmax_backlog_bytes = -5\n", 3, "must not be negative"},
		{"free", "[archive]\nbucket = \"b-1\"\nmin_free_bytes = -5\n", 3, "must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.line == 0 {
				// The key is absent from the file: the error names the table's line.
				_, err := Parse("gatehouse.toml", []byte(tc.data))
				if err == nil || !containsAll(err.Error(), "gatehouse.toml", tc.reason) {
					t.Fatalf("got %v, want %q", err, tc.reason)
				}
				return
			}
			expectRefusal(t, tc.data, tc.line, tc.reason)
		})
	}
	c, err := Parse("g.toml", []byte("[archive]\nbucket = \"gh-archive\"\nprefix = \"site1/\"\nendpoint = \"http://127.0.0.1:9000\"\nretention_days = 30\n"))
	if err != nil || !c.Archive.Enabled() || c.Archive.IntervalDuration() != DefaultArchiveInterval {
		t.Fatalf("a good [archive]: %v %+v", err, c.Archive)
	}
	if b, f := c.Archive.Budget(); b != DefaultArchiveMaxBacklog || f != DefaultArchiveMinFree {
		t.Fatalf("budget defaults %d %d", b, f)
	}
	if d, err := Parse("g.toml", nil); err != nil || d.Archive.Enabled() {
		t.Fatalf("no [archive]: %v", err)
	}
}

func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}
