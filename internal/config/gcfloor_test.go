package config

import (
	"strings"
	"testing"
)

// TestGCHeapFloor: 16 MiB by default; 0 (off) to 1024 accepted; anything else stops the start
// with the key named.
func TestGCHeapFloor(t *testing.T) {
	c, err := Parse("gatehouse.toml", nil)
	if err != nil || c.GCHeapFloorMiB != 16 {
		t.Fatalf("default %d, err %v", c.GCHeapFloorMiB, err)
	}
	for _, tc := range []struct {
		value string
		ok    bool
	}{{"0", true}, {"1", true}, {"1024", true}, {"-1", false}, {"1025", false}, {"\"16\"", false}} {
		_, err := Parse("gatehouse.toml", []byte("gcHeapFloorMiB = "+tc.value+"\n"))
		if (err == nil) != tc.ok || (err != nil && !strings.Contains(err.Error(), "gcHeapFloorMiB")) {
			t.Errorf("gcHeapFloorMiB = %s: err %v, want ok %v", tc.value, err, tc.ok)
		}
	}
}
