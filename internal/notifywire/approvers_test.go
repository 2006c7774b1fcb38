package notifywire

import (
	"slices"
	"testing"

	"gatehouse/internal/config"
	"gatehouse/internal/mfaauth"
)

// TestApproversOfARequest: the accounts that may decide are [notify.approval] approvers joined
// by those of the request's groups, each once; a group without an entry adds nobody.
func TestApproversOfARequest(t *testing.T) {
	w := &Wire{n: config.Notify{
		Approval: config.NotifyApproval{Approvers: []string{"lead"}},
		Groups: map[string]config.NotifyGroup{
			"dbas": {Approvers: []string{"dba1", "lead"}},
			"web":  {Approvers: []string{"web1"}},
			"ops":  {},
		},
	}}
	for _, tc := range []struct {
		groups []string
		want   []string
	}{
		{nil, []string{"lead"}},
		{[]string{"dbas"}, []string{"lead", "dba1"}},
		{[]string{"dbas", "web"}, []string{"lead", "dba1", "web1"}},
		{[]string{"ops", "unknown"}, []string{"lead"}},
	} {
		if got := w.approvers(mfaauth.ChatRequest{Groups: tc.groups}); !slices.Equal(got, tc.want) {
			t.Errorf("groups %v: %v, want %v", tc.groups, got, tc.want)
		}
	}
	if got := (&Wire{}).approvers(mfaauth.ChatRequest{Groups: []string{"x"}}); len(got) != 0 {
		t.Errorf("nobody named: %v", got)
	}
}
