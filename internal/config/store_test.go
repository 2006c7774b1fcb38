package config

import (
	"strings"
	"testing"
)

// TestStoreAndNodeKeys: store is empty (SQLite) or a postgres:// URL, node a plain name; a bad
// store value is refused without echoing it (it may hold a password).
func TestStoreAndNodeKeys(t *testing.T) {
	for _, tc := range []struct {
		data string
		ok   bool
	}{
		{"", true},
		{"store = \"postgres://gh:pw@db:5432/gatehouse?sslmode=require\"\n", true},
		{"store = \"postgresql://db/gatehouse\"\n", true},
		{"store = \"mysql://root:hunter2@db/x\"\n", false},
		{"store = \"/var/lib/gatehouse\"\n", false},
		{"node = \"node-a.example\"\n", true},
		{"node = \"a b\"\n", false},
		{"node = \"../x\"\n", false},
	} {
		c, err := Parse("gatehouse.toml", []byte(tc.data))
		if (err == nil) != tc.ok {
			t.Errorf("%q: err %v, want ok=%v", tc.data, err, tc.ok)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("the refusal shows the password: %v", err)
		}
		if err == nil && strings.Contains(tc.data, "store") && c.Store == "" {
			t.Errorf("%q: store not read", tc.data)
		}
	}
}
