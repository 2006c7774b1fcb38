package app

import (
	"errors"
	"testing"
)

// TestAuditGate: nothing that changes state or reaches a server starts while the audit log
// cannot record it; read-only commands still answer.
func TestAuditGate(t *testing.T) {
	failing := errors.New("write log: no space left on device")
	for _, tt := range []struct {
		cmd     string // "" a connection
		err     error
		refused bool
	}{
		{"", nil, false},
		{"", failing, true},
		{"accountCreate", nil, false},
		{"accountCreate", failing, true},
		{"accountUnfreeze", failing, true},
		{"groupAddMember", failing, true},
		{"selfAddIngressKey", failing, true},
		{"batch", failing, true},
		{"accountList", failing, false},
		{"info", failing, false},
		{"help", failing, false},
		{"accountInfo", failing, false},
		{"selfListSessions", failing, false},
		{"whoHasAccessTo", failing, false},
	} {
		r := auditGate(tt.cmd, tt.err)
		if (r != nil) != tt.refused {
			t.Errorf("cmd %q, audit error %v: refused %v, want %v", tt.cmd, tt.err, r != nil, tt.refused)
		}
		if r != nil && (r.Code != "KO_AUDIT_UNAVAILABLE" || r.Exit == 0) {
			t.Errorf("cmd %q: refusal %+v", tt.cmd, r)
		}
	}
}
