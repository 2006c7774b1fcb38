package pamverify

import (
	"errors"
	"testing"

	"gatehouse/internal/ticket"
)

// TestDecideTable runs Decide over every combination of its inputs: it allows exactly when the
// server is known, the identity is established (a valid ticket for this server, or a named
// account where the server allows it), the account is found, is the ticket's, is neither frozen
// nor expired, the store answered, and the factor passed.
func TestDecideTable(t *testing.T) {
	ticketErrs := []error{nil, ticket.ErrExpired, ticket.ErrSignature, ticket.ErrMalformed, errors.New("other")}
	factors := []FactorResult{FactorNotChecked, FactorOK, FactorWrong, FactorReplayed, FactorLimited, FactorMissing, FactorError, FactorUndelivered,
		FactorDenied, FactorExpired, FactorNoRequest, FactorUnclear, FactorResult(99)}
	// An approval allows only when it names who approved.
	kinds := []struct{ name, by string }{{"", ""}, {"chat code", ""}, {"approval", "bob"}, {"approval", ""}}
	n := 0
	for mask := 0; mask < 1<<10; mask++ {
		bit := func(i int) bool { return mask&(1<<i) != 0 }
		for _, te := range ticketErrs {
			for _, fr := range factors {
				for _, k := range kinds {
					f := Facts{ServerKnown: bit(0), TicketGiven: bit(1), TicketErr: te, TicketForServer: bit(2),
						AllowNoTicket: bit(3), AccountNamed: bit(4), AccountFound: bit(5), AccountIDMatches: bit(6),
						Frozen: bit(7), Expired: bit(8), StoreErr: bit(9), Factor: fr, FactorName: k.name, DecidedBy: k.by}
					identity := f.ServerKnown && !f.StoreErr && f.AccountFound && !f.Frozen && !f.Expired &&
						((f.TicketGiven && te == nil && f.TicketForServer && f.AccountIDMatches) ||
							(!f.TicketGiven && f.AllowNoTicket && f.AccountNamed))
					d := Decide(f)
					n++
					if want := identity && fr == FactorOK && (k.name != "approval" || k.by != ""); d.Allow != want {
						t.Fatalf("%+v: Allow=%v, want %v (%s)", f, d.Allow, want, d.Reason)
					}
					if want := identity && fr == FactorNotChecked; d.NeedCheck != want {
						t.Fatalf("%+v: NeedCheck=%v, want %v (%s)", f, d.NeedCheck, want, d.Reason)
					}
					if d.Allow && d.NeedCheck {
						t.Fatalf("%+v: both allow and check", f)
					}
					if !d.Allow && !d.NeedCheck && d.Reason == "" {
						t.Fatalf("%+v: a refusal without a reason", f)
					}
				}
			}
		}
	}
	t.Logf("%d combinations", n)
}

func TestDecideReasons(t *testing.T) {
	ok := Facts{ServerKnown: true, TicketGiven: true, TicketForServer: true, AccountFound: true, AccountIDMatches: true}
	for _, c := range []struct {
		name string
		mod  func(*Facts)
		want string
	}{
		{"allowed", func(f *Facts) { f.Factor = FactorOK }, "TOTP ok"},
		{"unknown token", func(f *Facts) { f.ServerKnown = false; f.Factor = FactorOK }, "unknown server token"},
		{"expired ticket", func(f *Facts) { f.TicketErr = ticket.ErrExpired }, "ticket expired"},
		{"forged ticket", func(f *Facts) { f.TicketErr = ticket.ErrSignature }, "ticket forged (bad signature)"},
		{"other server", func(f *Facts) { f.TicketForServer = false }, "ticket issued for another server"},
		{"frozen", func(f *Facts) { f.Frozen = true }, "account frozen"},
		{"namesake", func(f *Facts) { f.AccountIDMatches = false }, "the ticket's account was deleted"},
		{"no ticket refused", func(f *Facts) { f.TicketGiven = false; f.AccountNamed = true }, "no ticket (this server requires one)"},
		{"wrong code", func(f *Facts) { f.Factor = FactorWrong }, "wrong TOTP code"},
		{"replayed", func(f *Facts) { f.Factor = FactorReplayed }, "TOTP code already used"},
		{"chat code ok", func(f *Facts) { f.FactorName, f.Factor = "chat code", FactorOK }, "chat code ok"},
		{"chat code wrong", func(f *Facts) { f.FactorName, f.Factor = "chat code", FactorWrong }, "wrong chat code"},
		{"chat code undelivered", func(f *Facts) { f.FactorName, f.Factor = "chat code", FactorUndelivered }, "chat code not delivered"},
		{"approved", func(f *Facts) { f.FactorName, f.Factor, f.DecidedBy = "approval", FactorOK, "bob" }, "approved by bob"},
		{"approved by nobody", func(f *Facts) { f.FactorName, f.Factor = "approval", FactorOK }, "approval without an approver"},
		{"denied", func(f *Facts) { f.FactorName, f.Factor, f.DecidedBy = "approval", FactorDenied, "bob" }, "denied by bob"},
		{"approval expired", func(f *Facts) { f.FactorName, f.Factor = "approval", FactorExpired }, "approval expired (no answer in time)"},
		{"approval undelivered", func(f *Facts) { f.FactorName, f.Factor = "approval", FactorUndelivered }, "approval not delivered"},
		{"another request", func(f *Facts) { f.FactorName, f.Factor = "approval", FactorNoRequest }, "no such approval request (another server, person, user or command)"},
		{"unclear command", func(f *Facts) { f.Factor = FactorUnclear }, "the command could not be read to pick the factor"},
	} {
		f := ok
		c.mod(&f)
		if d := Decide(f); d.Reason != c.want {
			t.Errorf("%s: reason %q, want %q", c.name, d.Reason, c.want)
		}
	}
}
