package osh

import (
	"context"
	"fmt"
	"strings"

	"gatehouse/internal/audit"
	"gatehouse/internal/refusal"
)

// The setup commands that enrol each factor (internal/osh/cmd/open/mfa.go).
const (
	SetupPasswordCommand = "selfMFASetupPassword"
	SetupTOTPCommand     = "selfMFASetupTOTP"
)

// EnrolHint ends a setup refusal shown where no enrolment can be walked through (no pty).
const EnrolHint = "Log in with `ssh -t` (on a terminal) and the bastion walks you through the setup before going on."

// maxEnrolSteps bounds the enrolments of one gate: a password and a TOTP, and one more for an
// expired password; a gate that still refuses after that gives its refusal.
const maxEnrolSteps = 3

// PlanEnrolment is the decision of what a refusal of the setup gate (or of a JIT phase) leads
// to, pure: the setup command that enrols the missing factor, run on the spot when the session
// has a real terminal (pty), where a QR code shows and a password does not echo. walk is false
// when nothing can be walked through: the refusal stands (with EnrolHint when hint).
//
// KO_MFA_ANY_SETUP_REQUIRED plans TOTP (the factor an authenticator app carries); Enrol then
// lets the person choose a password instead (ChooseFactor). An expired password
// (KO_MFA_PASSWORD_SETUP_REQUIRED too) walks through changing it.
func PlanEnrolment(code string, pty bool) (command string, walk, hint bool) {
	switch code {
	case "KO_MFA_PASSWORD_SETUP_REQUIRED":
		command = SetupPasswordCommand
	case "KO_MFA_TOTP_SETUP_REQUIRED", "KO_MFA_ANY_SETUP_REQUIRED":
		command = SetupTOTPCommand
	default:
		return "", false, false
	}
	if !pty {
		return "", false, true
	}
	return command, true, false
}

// ChooseFactor is the setup command an answer to "(t) TOTP or (p) a password? [t]" picks, or
// "" for an answer that is neither (pure).
func ChooseFactor(answer string) string {
	switch strings.ToLower(strings.TrimSpace(answer)) {
	case "", "t", "totp":
		return SetupTOTPCommand
	case "p", "password":
		return SetupPasswordCommand
	}
	return ""
}

type enrollingKey struct{}

// Enrol walks the session through the setup of the factor r asks for (PlanEnrolment), then
// tells whether it enrolled; it prints nothing and changes nothing when it cannot. The setup
// command runs as if typed (its own MFA, recording pause, audit), and stores the factor only
// once complete, so an enrolment aborted at any prompt leaves the account as it was.
func (e *Env) Enrol(ctx context.Context, s *Session, r *refusal.Refusal) bool {
	// Never inside an enrolment, nor under --osh batch, whose next lines would be read as the
	// answers.
	if r == nil || ctx.Value(enrollingKey{}) != nil || s.InBatch {
		return false
	}
	cmd, walk, _ := PlanEnrolment(r.Code, s.PTY)
	if !walk {
		return false
	}
	ctx = context.WithValue(ctx, enrollingKey{}, true)
	w := s.Out
	if s.Editor != nil {
		w = s.Editor
	}
	chosen := false
	if r.Code == "KO_MFA_ANY_SETUP_REQUIRED" && e.Hooks.Ask != nil {
		fmt.Fprintf(w, "%s, this bastion requires a second factor and you have none yet.\n", s.Account.Name)
		ans, err := e.Hooks.Ask(ctx, s, "Set up (t) an authenticator app (TOTP) or (p) a password? [t] ")
		if err != nil {
			return false
		}
		if cmd, chosen = ChooseFactor(ans), true; cmd == "" {
			fmt.Fprintf(w, "Answer t or p.\n")
			return false
		}
	}
	var args []string
	if cmd == SetupPasswordCommand {
		args = []string{"--yes"} // the enrolment is the confirmation
	}
	switch {
	case cmd == SetupPasswordCommand && strings.Contains(r.Message, "expired"):
		fmt.Fprintf(w, "Sorry %s, your Multi-Factor Authentication password has expired: let's change it now.\n", s.Account.Name)
	case !chosen:
		what := "an authenticator app (TOTP)"
		if cmd == SetupPasswordCommand {
			what = "a password"
		}
		fmt.Fprintf(w, "%s, this bastion requires a second factor and yours is not set up yet: %s.\n", s.Account.Name, what)
	}
	fmt.Fprintf(w, "Let's set it up now; once done, the bastion goes on with what you asked.\n")
	// Not yet started: an enrolment the audit log cannot record does not begin (fail closed).
	if err := e.AuditEvent(ctx, audit.Event{Type: "mfa.enrolment_started", Fields: audit.Fields{Account: s.Account.Name,
		Extra: map[string]string{"command": cmd, "error_code": r.Code}}}); err != nil {
		fmt.Fprintf(w, "The audit log cannot be written: the setup cannot start now.\n")
		return false
	}
	res := e.Run(ctx, s, cmd, args, false)
	// After the fact: the setup command audited its own change; the log counts a failure and alerts.
	_ = e.AuditEvent(ctx, audit.Event{Type: "mfa.enrolment_done", Fields: audit.Fields{Account: s.Account.Name,
		Extra: map[string]string{"command": cmd, "error_code": res.Code}}})
	return res.Success() && res.Code != "OK_NO_CHANGE"
}

// WithEnrolment runs check (a setup gate, a JIT phase) and, while it refuses for a missing
// factor and the session has a terminal, walks the person through enrolling it and runs check
// again. Without a terminal the refusal says how to enrol (fail closed: nothing is set).
func (e *Env) WithEnrolment(ctx context.Context, s *Session, check func() *refusal.Refusal) *refusal.Refusal {
	for step := 0; ; step++ {
		r := check()
		if r == nil {
			return nil
		}
		if _, _, hint := PlanEnrolment(r.Code, s.PTY); hint {
			c := *r
			c.Message += "\n" + EnrolHint
			return &c
		}
		if step == maxEnrolSteps || !e.Enrol(ctx, s, r) {
			return r
		}
	}
}

// enrolGate is the setup gate with first-login enrolment (WithEnrolment).
func (e *Env) enrolGate(ctx context.Context, s *Session, cmd *Command) *Result {
	ref := e.WithEnrolment(ctx, s, func() *refusal.Refusal {
		if r := e.setupGate(ctx, s, cmd); r != nil {
			return &refusal.Refusal{Code: r.Code, Message: r.Message, Exit: r.Exit}
		}
		return nil
	})
	if ref == nil {
		return nil
	}
	r := Refused(ref)
	return &r
}
