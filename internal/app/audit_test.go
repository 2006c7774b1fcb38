package app

import (
	"errors"
	"testing"
)

func TestAuditMap(t *testing.T) {
	f := auditMap(map[string]any{
		"account": "alice", "port_to": 22, "allowed": true, "exit_status": 42, "duration": 1.5,
		"bytes_out": int64(7), "fingerprint": "SHA256:x", "port_from": "not a number",
	})
	if f.Account != "alice" || f.PortTo != 22 || f.Allowed == nil || !*f.Allowed || f.ExitStatus == nil || *f.ExitStatus != 42 ||
		f.Duration != 1.5 || f.BytesOut != 7 {
		t.Fatalf("known fields not filled: %+v", f)
	}
	if f.Extra["fingerprint"] != "SHA256:x" || f.Extra["port_from"] != "not a number" || f.PortFrom != 0 {
		t.Fatalf("unknown or mistyped fields not kept as text: %+v", f.Extra)
	}
	if len(auditMap(map[string]any{"account": "a"}).Extra) != 0 {
		t.Fatal("Extra set without extra fields")
	}
}

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
