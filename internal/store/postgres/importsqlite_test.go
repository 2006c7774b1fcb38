package postgres_test

import (
	"context"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/store"
	"gatehouse/internal/store/postgres/pgtest"
	"gatehouse/internal/store/sqlite"
)

// fill puts one of everything into a store, through the store interface.
func fill(t *testing.T, s store.Store) {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.CreateAccount(ctx, store.Account{Name: "alice", Comment: "a", CreatedAt: now, CreatedBy: "admin", OshOnly: true, Frozen: true,
		FrozenReason: "r", MaxInactiveDays: 3, LastSeenAt: now, Grants: []string{"admin", "auditor"}, Settings: map[string]string{"idle_ignore": "yes"}},
		[]store.IngressKey{{Line: "ssh-ed25519 AAAA alice", Type: "ssh-ed25519", Fingerprint: "SHA256:a", From: "10.0.0.0/8", CreatedAt: now}}))
	must(s.CreateAccount(ctx, store.Account{Name: "bob", CreatedAt: now, MaxInactiveDays: -1}, nil))
	_, err := s.AddIngressKey(ctx, store.IngressKey{Account: "bob", Line: "l", Type: "t", Fingerprint: "SHA256:b", CreatedAt: now})
	must(err)
	_, err = s.AddEgressKey(ctx, store.EgressKey{OwnerKind: "account", Owner: "alice", Type: "ssh-ed25519", Bits: 256, Public: "p", Fingerprint: "f",
		Sealed: []byte{0, 1, 2, 3, 250}, CreatedAt: now})
	must(err)
	must(s.CreateGroup(ctx, store.Group{Name: "web", CreatedAt: now, CreatedBy: "alice", MFARequired: "totp", IdleLockTimeout: 5, IdleKillTimeout: -1,
		GuestTTLLimit: time.Hour, Roles: map[string][]string{store.RoleOwner: {"alice"}, store.RoleMember: {"alice", "bob"}}}))
	_, err = s.AddACL(ctx, store.ACLEntry{Kind: store.ACLGroup, Owner: "web", Host: "10.1.0.0/16", User: "root", Port: 22, AddedAt: now, AddedBy: "alice"})
	must(err)
	_, err = s.AddACL(ctx, store.ACLEntry{Kind: store.ACLGuest, Owner: "web", Account: "bob", Host: "10.1.0.1", ExpiresAt: now.Add(time.Hour), AddedAt: now})
	must(err)
	must(s.AddKnownHost(ctx, store.KnownHost{Account: "alice", HostPort: "db:22", Key: []byte{9, 8, 7}, AddedAt: now}))
	alice, _ := s.GetAccount(ctx, "alice")
	must(s.OpenSession(ctx, store.Session{ID: "s1", Account: "alice", AccountID: alice.ID, Kind: "ssh", Host: "db", User: "root",
		StartedAt: now.Add(123 * time.Nanosecond), Allowed: true}))
	must(s.CloseSession(ctx, "s1", func(x *store.Session) { x.Status, x.EndedAt, x.SHA256 = "closed", now.Add(time.Minute), "abc" }))
	must(s.SetMFAPassword(ctx, "alice", "$argon2id$x", now, false))
	must(s.SetMFATOTP(ctx, "alice", store.MFATOTP{Sealed: []byte("sealed"), Created: now, ScratchHashes: []string{"h1", "h2"}, LastStep: 77, HasLastStep: true}))
	must(s.UpdateMFALimit(ctx, "alice", "totp", func(st *store.MFALimitState) error {
		st.Failures, st.Locked, st.Tries = 4, true, []time.Time{now}
		return nil
	}))
	_, err = s.MFASecret(ctx, "scratch_key", func() ([]byte, error) { return []byte("secret"), nil })
	must(err)
	must(s.CreateApproval(ctx, store.ApprovalRequest{ID: "ap1", Account: "bob", Label: "L", Created: now, Expires: now.Add(time.Hour),
		FourEyes: true, Approvers: []string{"alice"}}))
	_, err = s.RememberNonce(ctx, "nonce1", now.Add(time.Hour))
	must(err)
	must(s.SetBastionSetting(ctx, "maintenance", "upgrade", "alice"))
}

// snapshot reads back everything fill wrote, through the store interface.
func snapshot(t *testing.T, s store.Store) map[string]any {
	t.Helper()
	ctx := context.Background()
	out := map[string]any{}
	get := func(name string, v any, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out[name] = v
	}
	v1, err := s.ListAccounts(ctx)
	get("accounts", v1, err)
	for _, a := range []string{"alice", "bob"} {
		k, err := s.ListIngressKeys(ctx, a)
		get("ingress "+a, k, err)
		m, err := s.GetMFA(ctx, a)
		get("mfa "+a, m, err)
	}
	v2, err := s.ListEgressKeys(ctx, "account", "alice")
	get("egress", v2, err)
	v3, err := s.ListGroups(ctx)
	get("groups", v3, err)
	v4, err := s.ListACL(ctx, store.ACLGroup, "web", "")
	get("acl group", v4, err)
	v5, err := s.ListACL(ctx, store.ACLGuest, "web", "")
	get("acl guest", v5, err)
	v6, err := s.KnownHostKeys(ctx, "alice", "db:22")
	get("known hosts", v6, err)
	v7, err := s.ListSessions(ctx, store.SessionFilter{})
	get("sessions", v7, err)
	step, ok, err := s.LastTOTPStep(ctx, "alice")
	get("totp step", [2]any{step, ok}, err)
	var lim store.MFALimitState
	get("limits", &lim, s.UpdateMFALimit(ctx, "alice", "totp", func(st *store.MFALimitState) error { lim = *st; return nil }))
	for i := range lim.Tries {
		lim.Tries[i] = lim.Tries[i].UTC()
	}
	v8, err := s.MFASecret(ctx, "scratch_key", func() ([]byte, error) { return []byte("new"), nil })
	get("secret", string(v8), err)
	v9, err := s.GetApproval(ctx, "ap1")
	get("approval", v9, err)
	v10, err := s.BastionSetting(ctx, "maintenance")
	get("maintenance", v10, err)
	return out
}

// TestImportSQLiteCopiesEverything is migrate-store: an SQLite store filled through the store
// interface reads back the same from PostgreSQL after the import, ids included, and the
// PostgreSQL store goes on working (new ids, replay protection, nonces).
func TestImportSQLiteCopiesEverything(t *testing.T) {
	ctx := context.Background()
	src, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	fill(t, src)
	dst := open(t, pgtest.Fresh(t))
	rep, err := dst.ImportSQLite(ctx, src.DB())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Rows["accounts"] != 2 || rep.Rows["mfa_scratch"] != 2 {
		t.Fatalf("report %+v", rep.Rows)
	}
	want, got := snapshot(t, src), snapshot(t, dst)
	for k := range want {
		if !reflect.DeepEqual(want[k], got[k]) {
			t.Errorf("%s differs:\n sqlite   %+v\n postgres %+v", k, want[k], got[k])
		}
	}
	// What the imported state must still do on PostgreSQL.
	if ok, _ := dst.AdvanceTOTPStep(ctx, "alice", 77); ok {
		t.Error("the imported last TOTP step did not stop a replay")
	}
	if ok, _ := dst.ConsumeScratchCode(ctx, "alice", "h1"); !ok {
		t.Error("an imported scratch code does not work")
	}
	if fresh, _ := dst.RememberNonce(ctx, "nonce1", time.Now().Add(time.Hour)); fresh {
		t.Error("an imported nonce was accepted again")
	}
	k, err := dst.AddIngressKey(ctx, store.IngressKey{Account: "bob", Line: "l2", Type: "t", Fingerprint: "SHA256:c"})
	if err != nil || k.ID <= 2 {
		t.Errorf("a new key after the import: id %d %v (the serial must continue after the copied ids)", k.ID, err)
	}
	// A second import into a store that has accounts is refused, and changes nothing.
	if _, err := dst.ImportSQLite(ctx, src.DB()); err == nil || !strings.Contains(err.Error(), "already has accounts") {
		t.Fatalf("second import: %v", err)
	}
}
