package console

import (
	"testing"

	"gatehouse/internal/osh"
)

func TestCanViewSession(t *testing.T) {
	plain := Viewer{AccountID: "id-bob", Account: "bob"}
	auditor := Viewer{AccountID: "id-eve", Account: "eve", Roles: osh.Roles{Auditor: true}}
	admin := Viewer{AccountID: "id-adm", Account: "admin", Roles: osh.Roles{Admin: true, SuperOwner: true}}
	superowner := Viewer{AccountID: "id-so", Account: "so", Roles: osh.Roles{SuperOwner: true}}
	granted := Viewer{AccountID: "id-g", Account: "g", Roles: osh.Roles{Grants: map[string]bool{"accountList": true}}}
	noID := Viewer{Account: "ghost"}
	for _, c := range []struct {
		name  string
		v     Viewer
		owner string
		want  bool
	}{
		{"plain own", plain, "id-bob", true},
		{"plain other", plain, "id-alice", false},
		{"plain unknown owner", plain, "", false},
		{"plain same name other id", plain, "bob", false},
		{"auditor other", auditor, "id-alice", true},
		{"auditor unknown owner", auditor, "", true},
		{"admin other", admin, "id-alice", true},
		{"superowner is not an auditor", superowner, "id-alice", false},
		{"superowner own", superowner, "id-so", true},
		{"granted command is not a role", granted, "id-alice", false},
		{"empty viewer id never matches", noID, "", false},
	} {
		if got := CanViewSession(c.v, c.owner); got != c.want {
			t.Errorf("%s: CanViewSession = %v, want %v", c.name, got, c.want)
		}
		if got := CanBrowseAudit(c.v); got != (c.v.Roles.Admin || c.v.Roles.Auditor) {
			t.Errorf("%s: CanBrowseAudit = %v", c.name, got)
		}
	}
}

func TestApprovalRights(t *testing.T) {
	plain := Viewer{AccountID: "1", Account: "bob"}
	auditor := Viewer{AccountID: "2", Account: "eve", Roles: osh.Roles{Auditor: true}}
	admin := Viewer{AccountID: "3", Account: "root", Roles: osh.Roles{Admin: true, SuperOwner: true}}
	alice := Viewer{AccountID: "4", Account: "alice"}
	aliceAdmin := Viewer{AccountID: "4", Account: "alice", Roles: osh.Roles{Admin: true}}
	type rights struct{ see, approve, deny bool }
	none, all, own := rights{}, rights{true, true, true}, rights{true, false, true}
	for _, c := range []struct {
		name      string
		v         Viewer
		approvers []string
		want      rights
	}{
		{"own request, unbound", alice, nil, own},
		{"own request, bound to herself", alice, []string{"alice"}, own},
		{"own request as admin", aliceAdmin, nil, own},
		{"bound approver", plain, []string{"bob"}, all},
		{"plain, not bound", plain, []string{"carol"}, none},
		{"plain, unbound request", plain, nil, none},
		{"auditor not bound", auditor, []string{"bob"}, none},
		{"auditor unbound", auditor, nil, none},
		{"auditor bound", auditor, []string{"eve"}, all},
		{"admin unbound", admin, nil, all},
		{"admin not among the bound", admin, []string{"bob"}, none},
		{"no account", Viewer{}, nil, none},
	} {
		s, a, d := ApprovalRights(c.v, "alice", c.approvers)
		if got := (rights{s, a, d}); got != c.want {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}
}
