package app

import (
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
