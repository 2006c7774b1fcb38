package app

import (
	"context"
	"fmt"

	"gatehouse/internal/refusal"
	"gatehouse/internal/session"
)

// connectMFA is the connector's MFA phase with enrolment: a factor a group's access requires
// and the account lacks is set up on a terminal, then the phase runs again (osh.WithEnrolment).
func (a *App) connectMFA(ctx context.Context, s *session.Session, reqs []string, target session.Target) *refusal.Refusal {
	return a.Env.WithEnrolment(ctx, s, func() *refusal.Refusal { return a.MFA.ConnectMFA(ctx, s, reqs, target) })
}

// LogMustEnrol says in the log, at start and after a reload, how many accounts the policy in
// force sends through enrolment at their next login, naming the admins among them: turning a
// policy on must not shut anyone out in silence.
func (a *App) LogMustEnrol(ctx context.Context) {
	accounts, admins, err := a.MFA.MustEnrol(ctx)
	switch {
	case err != nil && ctx.Err() != nil:
		// Shutting down: the store is closing under the count, nothing to report.
	case err != nil:
		a.log.Error("cannot count the accounts that must set up a second factor", "err", err)
	case len(accounts) > 0:
		a.log.Warn(fmt.Sprintf("%d accounts must set up a second factor at their next login (on a terminal, `ssh -t`), %d of them admins", len(accounts), len(admins)),
			"accounts", len(accounts), "admins", admins, "policy", a.Config().AccountMFAPolicy)
	}
}

// consoleBase is the web console's base URL, "" when it is off (or not yet listening): approval
// requests in link channels bound to nobody send their approvers there.
func (a *App) consoleBase() string {
	if a.Console == nil {
		return ""
	}
	return a.Console.Base()
}

// ask is osh.Hooks.Ask: one question on the session's terminal, answered without echo, with
// the MFA prompts' reader (its timeout, ^C and ^D).
func (a *App) ask(ctx context.Context, s *session.Session, question string) (string, error) {
	out := s.Out
	if s.Editor != nil {
		out = s.Editor
	}
	return a.MFA.Ask(ctx, s, out, question)
}
