package osh_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/audit"
	"gatehouse/internal/config"
	"gatehouse/internal/osh"
	"gatehouse/internal/refusal"
	"gatehouse/internal/session"
)

// TestEnrolNeedsItsAuditEvent: an enrolment whose mfa.enrolment_started event the audit log
// cannot take does not start (the setup command never runs, fail closed); with the log working
// it starts and ends with the same fields the old free-form events had (command and error_code
// in Extra).
func TestEnrolNeedsItsAuditEvent(t *testing.T) {
	ctx := context.Background()
	st, acct := storeWithBob(t)
	cfg := config.Default()
	ran := 0
	reg := osh.NewRegistry()
	reg.Add(&osh.Command{Name: osh.SetupTOTPCommand, Category: osh.Open, Summary: "stand-in for the TOTP setup",
		Run: func(context.Context, *osh.Call) osh.Result { ran++; return osh.Result{Code: "OK"} }})
	var events []audit.Event
	var fail error
	e := &osh.Env{Store: st, Config: func() *config.Config { return &cfg }, Registry: reg, Now: time.Now,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		AppendAudit: func(_ context.Context, ev audit.Event) error {
			if fail != nil {
				return fail
			}
			events = append(events, ev)
			return nil
		}}
	refused := &refusal.Refusal{Code: "KO_MFA_TOTP_SETUP_REQUIRED", Message: "set up TOTP"}
	var out strings.Builder
	newSession := func() *session.Session {
		out.Reset()
		return &session.Session{Account: acct, Roles: session.RolesOf(acct), PTY: true, In: eofReader{}, Out: &out, Err: io.Discard}
	}

	fail = errors.New("disk full")
	if e.Enrol(ctx, newSession(), refused) {
		t.Fatal("enrolled without an audit log")
	}
	if ran != 0 || !strings.Contains(out.String(), "audit log cannot be written") {
		t.Fatalf("setup ran %d times, printed %q; want it never run and the reason said", ran, out.String())
	}

	fail = nil
	if !e.Enrol(ctx, newSession(), refused) || ran != 1 {
		t.Fatalf("enrolment with a working log: ran %d times", ran)
	}
	want := []audit.Event{
		{Type: "mfa.enrolment_started", Fields: audit.Fields{Account: "bob", Extra: map[string]string{"command": osh.SetupTOTPCommand, "error_code": "KO_MFA_TOTP_SETUP_REQUIRED"}}},
		{Type: "mfa.enrolment_done", Fields: audit.Fields{Account: "bob", Extra: map[string]string{"command": osh.SetupTOTPCommand, "error_code": "OK"}}},
	}
	var got []audit.Event
	for _, ev := range events {
		if strings.HasPrefix(ev.Type, "mfa.enrolment_") {
			got = append(got, audit.Event{Type: ev.Type, Fields: ev.Fields})
		}
	}
	if len(got) != len(want) {
		t.Fatalf("events %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].Type != want[i].Type || got[i].Fields.Account != want[i].Fields.Account ||
			len(got[i].Fields.Extra) != 2 || got[i].Fields.Extra["command"] != want[i].Fields.Extra["command"] ||
			got[i].Fields.Extra["error_code"] != want[i].Fields.Extra["error_code"] {
			t.Errorf("event %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}
