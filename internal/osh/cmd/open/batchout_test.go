package open

import (
	"encoding/json"
	"strings"
	"testing"

	"gatehouse/internal/osh"
)

// TestBatchResultsBounded: what a batch keeps does not grow with what its commands return or
// what its lines hold; an item over the budget keeps its command, code and message.
func TestBatchResultsBounded(t *testing.T) {
	var b batchResults
	big := strings.Repeat("v", 100<<10)
	long := "info --" + strings.Repeat("A", 60000)
	for i := 0; i < maxBatchLines; i++ {
		b.add(long, osh.Result{Command: "info", Code: "OK", Message: strings.Repeat("m", 60000), Value: []string{big}})
	}
	total := 0
	for _, it := range b.value() {
		total += len(it)
	}
	if limit := maxBatchValues + maxBatchLines*(maxBatchEcho+maxBatchMessage+512); total > limit {
		t.Fatalf("a batch keeps %d bytes, limit %d", total, limit)
	}
	var first, last struct {
		Command string `json:"command"`
		Result  struct {
			Code    string `json:"error_code"`
			Message string `json:"error_message"`
			Value   any    `json:"value"`
		} `json:"result"`
	}
	items := b.value()
	if err := json.Unmarshal(items[0], &first); err != nil || json.Unmarshal(items[len(items)-1], &last) != nil {
		t.Fatal(err)
	}
	if first.Result.Value == nil || len(first.Command) > maxBatchEcho+32 || !strings.Contains(first.Command, "(60007 bytes)") {
		t.Fatalf("first item: value %v, command %d bytes %q…", first.Result.Value != nil, len(first.Command), first.Command[:40])
	}
	if last.Result.Value != nil || last.Result.Code != "OK" || !strings.Contains(last.Result.Message, "value left out") {
		t.Fatalf("an item over the budget: %+v", last.Result)
	}
	if len(b.value()) != maxBatchLines {
		t.Fatalf("%d items, want %d", len(b.value()), maxBatchLines)
	}
	var empty batchResults
	if data, _ := json.Marshal(empty.value()); string(data) != "[]" {
		t.Fatalf("an empty batch's value is %s, want []", data)
	}
}

// TestClip: a user's text is shortened on a character boundary and says its length.
func TestClip(t *testing.T) {
	for _, tc := range []struct {
		in   string
		max  int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"abcdefghijk", 10, "abcdefghij… (11 bytes)"},
		{"ééééé", 3, "é… (10 bytes)"},
		{"", 0, ""},
	} {
		if got := clip(tc.in, tc.max); got != tc.want {
			t.Errorf("clip(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
	}
}
