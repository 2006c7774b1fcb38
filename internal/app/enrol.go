package app

import (
	"context"

	"gatehouse/internal/refusal"
	"gatehouse/internal/session"
)

// connectMFA is the connector's MFA phase with enrolment: a factor a group's access requires
// and the account lacks is set up on a terminal, then the phase runs again (osh.WithEnrolment).
func (a *App) connectMFA(ctx context.Context, s *session.Session, reqs []string, target string) *refusal.Refusal {
	return a.Env.WithEnrolment(ctx, s, func() *refusal.Refusal { return a.MFA.ConnectMFA(ctx, s, reqs, target) })
}
