package access

import (
	"errors"
	"testing"
)

// TestMayChangeAccountTable walks every combination of actor roles × target roles (another
// account or oneself) × change kind (× the command granted or revoked) and compares
// MayChangeAccount with the rules written out as a list of refusals.
func TestMayChangeAccountTable(t *testing.T) {
	type role struct {
		name              string
		admin, superOwner bool
	}
	roles := []role{{"plain", false, false}, {"superowner", false, true}, {"admin", true, true}}
	commands := []string{"accountModify", "auditor", "admin", "superowner", "accountGrantCommand", "accountRevokeCommand"}
	// rules: each says when a change is refused, and with which code.
	type rule struct {
		code string
		when func(actor, target role, self bool, ch AccountChange) bool
	}
	grantKind := func(ch AccountChange) bool { return ch.Kind == ChangeGrant || ch.Kind == ChangeRevoke }
	adminOnly := map[string]bool{"admin": true, "superowner": true, "accountGrantCommand": true, "accountRevokeCommand": true}
	rules := []rule{
		{CodeSecurityViolation, func(a, _ role, _ bool, ch AccountChange) bool {
			return grantKind(ch) && adminOnly[ch.Command] && !a.admin
		}},
		{CodeSecurityViolation, func(a, tg role, _ bool, _ AccountChange) bool { return tg.admin && !a.admin }},
		{CodeCannotDeleteSelf, func(_, _ role, self bool, ch AccountChange) bool { return self && ch.Kind == ChangeDelete }},
		{CodeCannotFreezeSelf, func(_, _ role, self bool, ch AccountChange) bool { return self && ch.Kind == ChangeFreeze }},
		{CodeSecurityViolation, func(_, _ role, self bool, ch AccountChange) bool {
			return self && ch.Kind == ChangeRevoke && ch.Command == "admin"
		}},
		{CodeSecurityViolation, func(_, _ role, self bool, ch AccountChange) bool {
			switch ch.Kind {
			case ChangeUnfreeze, ChangeUnexpire, ChangeUnlock, ChangeMFAReset, ChangeMFAImport, ChangePersonalAccess:
				return self
			}
			return false
		}},
		{CodeSecurityViolation, func(a, _ role, self bool, ch AccountChange) bool {
			return self && ch.Kind == ChangeModifyMFA && !a.admin
		}},
	}
	n := 0
	for _, actor := range roles {
		for _, tgt := range append(roles, role{name: "self"}) {
			self := tgt.name == "self"
			if self {
				tgt = actor
			}
			for _, kind := range ChangeKinds {
				chs := []AccountChange{{Kind: kind}}
				if kind == ChangeGrant || kind == ChangeRevoke {
					chs = nil
					for _, c := range commands {
						chs = append(chs, AccountChange{Kind: kind, Command: c})
					}
				}
				for _, ch := range chs {
					n++
					a := Principal{ID: "id-actor", Name: "actor", Admin: actor.admin, SuperOwner: actor.superOwner}
					tp := Principal{ID: "id-target", Name: "target", Admin: tgt.admin, SuperOwner: tgt.superOwner}
					if self {
						tp = a
					}
					want := ""
					for _, r := range rules {
						if r.when(actor, tgt, self, ch) {
							want = r.code
							break
						}
					}
					err := MayChangeAccount(a, tp, ch)
					got := ""
					var ref *Refusal
					if errors.As(err, &ref) {
						got = ref.Code
						if ref.Exit != ExitPluginError || ref.Message == "" {
							t.Errorf("refusal without exit status or message: %+v", ref)
						}
					} else if err != nil {
						t.Errorf("error that is not a *Refusal: %v", err)
					}
					// The first matching rule names the code, except that several rules share one.
					if (want == "") != (got == "") || (want != "" && want != got && want != CodeSecurityViolation && got != CodeSecurityViolation) {
						t.Errorf("actor %s, target %s (self %v), %s %s: got %q, want %q", actor.name, tgt.name, self, ch.Kind, ch.Command, got, want)
					}
				}
			}
		}
	}
	if n < 3*4*len(ChangeKinds) {
		t.Fatalf("only %d combinations walked", n)
	}
}

func TestMayChangeAccountIdentity(t *testing.T) {
	admin := Principal{ID: "1", Name: "alice", Admin: true}
	cases := []struct {
		name          string
		actor, target Principal
		ch            AccountChange
		wantCode      string
	}{
		// An account recreated under a deleted one's name is another account: the id decides.
		{"same name, other id: not self", admin, Principal{ID: "2", Name: "alice"}, AccountChange{Kind: ChangeDelete}, ""},
		{"same id: self", admin, Principal{ID: "1", Name: "alice", Admin: true}, AccountChange{Kind: ChangeDelete}, CodeCannotDeleteSelf},
		// Stores without ids fall back on the name.
		{"no ids, same name: self", Principal{Name: "alice", Admin: true}, Principal{Name: "alice"}, AccountChange{Kind: ChangeFreeze}, CodeCannotFreezeSelf},
		{"no ids, empty names: never self", Principal{Admin: true}, Principal{}, AccountChange{Kind: ChangeFreeze}, ""},
		{"unknown kind refused", admin, Principal{ID: "2", Name: "bob"}, AccountChange{Kind: "rename"}, CodeSecurityViolation},
		{"empty kind refused", admin, Principal{ID: "2", Name: "bob"}, AccountChange{}, CodeSecurityViolation},
		{"non-admin unfreezes an admin", Principal{ID: "3", Name: "eve"}, Principal{ID: "1", Name: "alice", Admin: true}, AccountChange{Kind: ChangeUnfreeze}, CodeSecurityViolation},
		{"superowner unlocks an admin", Principal{ID: "3", Name: "eve", SuperOwner: true}, Principal{ID: "1", Name: "alice", Admin: true}, AccountChange{Kind: ChangeUnlock}, CodeSecurityViolation},
		{"non-admin adds a personal access to an admin", Principal{ID: "3", Name: "eve"}, Principal{ID: "1", Name: "alice", Admin: true}, AccountChange{Kind: ChangePersonalAccess}, CodeSecurityViolation},
		{"non-admin freezes a plain account", Principal{ID: "3", Name: "eve"}, Principal{ID: "4", Name: "bob"}, AccountChange{Kind: ChangeFreeze}, ""},
	}
	for _, c := range cases {
		err := MayChangeAccount(c.actor, c.target, c.ch)
		got := ""
		var ref *Refusal
		if errors.As(err, &ref) {
			got = ref.Code
		}
		if got != c.wantCode {
			t.Errorf("%s: got %q (%v), want %q", c.name, got, err, c.wantCode)
		}
	}
}
