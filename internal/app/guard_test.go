package app

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/osh"
	"gatehouse/internal/store"
)

// noAccountChange are the commands with --account that only read (or create): every other one changes
// the account it names and must refuse a non-admin acting on an admin.
var noAccountChange = map[string]bool{
	"accountInfo": true, "accountList": true, "accountListIngressKeys": true, "accountListEgressKeys": true,
	"accountListAccesses": true, "accountListSessions": true, "accountListPasswords": true,
	"accountCreate": true, // --account names the account to create: nobody's yet
}

// groupScoped are the categories whose --account names a member of a group: they change the
// group, under the group's own role check (access.CheckRole), not the account.
var groupScoped = map[osh.Category]bool{osh.GroupOwner: true, osh.GroupGatekeeper: true, osh.GroupAclkeeper: true}

// guardArgs make each command's line otherwise valid, so that only the guard can refuse it.
var guardArgs = map[string][]string{
	"accountModify":            {"--always-active", "yes"},
	"accountGrantCommand":      {"--command", "accountList"},
	"accountRevokeCommand":     {"--command", "accountList"},
	"accountFreeze":            {"--reason", "test"},
	"accountDelete":            {"--no-confirm"},
	"accountAddPersonalAccess": {"--host", "10.1.2.3", "--user", "root", "--port", "22"},
	"accountDelPersonalAccess": {"--host", "10.1.2.3", "--user", "root", "--port", "22"},
	"accountGeneratePassword":  {"--do-it"},
}

// snapshot is what a change to an account could touch.
type snapshot struct {
	Account  store.Account
	MFA      store.MFACredentials
	Limit    store.MFALimitState
	Personal []store.ACLEntry
}

var errPeek = errors.New("peek only")

func snap(t *testing.T, st store.Store, name string) snapshot {
	t.Helper()
	ctx := context.Background()
	a, err := st.GetAccount(ctx, name)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	m, _ := st.GetMFA(ctx, name)
	p, _ := st.ListACL(ctx, store.ACLPersonal, name, "")
	var l store.MFALimitState
	_ = st.UpdateMFALimit(ctx, name, "password", func(x *store.MFALimitState) error { l = *x; return errPeek })
	return snapshot{a, m, l, p}
}

// TestEveryAccountCommandAppliesTheGuard enumerates the registry: each command taking --account
// that is not read-only is run by a non-admin granted exactly that command, on an admin (frozen
// and expired, so that unfreeze and unexpire would have something to do), and must be refused
// with ERR_SECURITY_VIOLATION leaving the admin as it was. The same line on a plain account is
// not refused by the guard, so the refusal comes from the guard and not from a bad line.
func TestEveryAccountCommandAppliesTheGuard(t *testing.T) {
	ctx := context.Background()
	a, err := Open(ctx, Options{DataDir: filepath.Join(t.TempDir(), "data"), Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := a.CreateFirstAdmin(ctx, "first", ""); err != nil {
		t.Fatal(err)
	}
	st := a.Store
	long := time.Now().Add(-400 * 24 * time.Hour)
	mk := func(name string, grants ...string) {
		if err := st.CreateAccount(ctx, store.Account{Name: name, CreatedAt: time.Now(), MaxInactiveDays: -1, Grants: grants}, nil); err != nil {
			t.Fatal(err)
		}
	}
	mk("boss", osh.GrantAdmin)
	mk("eve")
	if err := st.UpdateAccount(ctx, "boss", func(x *store.Account) error {
		x.Frozen, x.FrozenReason, x.LastSeenAt, x.MaxInactiveDays = true, "holiday", long, 30
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// A lockout, so that accountUnlock has something to lift.
	if err := st.UpdateMFALimit(ctx, "boss", "password", func(x *store.MFALimitState) error {
		x.Failures, x.Locked = 10, true
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	run := func(cmd *osh.Command, target string) osh.Result {
		if err := st.UpdateAccount(ctx, "eve", func(x *store.Account) error { x.Grants = []string{cmd.Name}; return nil }); err != nil {
			t.Fatal(err)
		}
		eve, err := st.GetAccount(ctx, "eve")
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		s := &osh.Session{ID: "test", Account: eve, Roles: osh.RolesOf(eve), In: strings.NewReader(""), Out: &out, Err: &out}
		s.Reload = func(ctx context.Context) error {
			a, err := st.GetAccount(ctx, "eve")
			s.Account, s.Roles = a, osh.RolesOf(a)
			return err
		}
		args := append([]string{"--account", target}, guardArgs[cmd.Name]...)
		return a.Env.Run(ctx, s, cmd.Name, args, true)
	}
	checked := 0
	for _, cmd := range a.Env.Registry.All() {
		takesAccount := false
		for _, o := range cmd.Options {
			takesAccount = takesAccount || o.Name == "account"
		}
		if !takesAccount || noAccountChange[cmd.Name] || groupScoped[cmd.Category] {
			continue
		}
		checked++
		before := snap(t, st, "boss")
		r := run(cmd, "boss")
		if r.Code != "ERR_SECURITY_VIOLATION" {
			t.Errorf("%s by a non-admin on an admin: %s %q, want ERR_SECURITY_VIOLATION", cmd.Name, r.Code, r.Message)
		}
		if after := snap(t, st, "boss"); !reflect.DeepEqual(before, after) {
			t.Errorf("%s by a non-admin changed the admin:\nbefore %+v\nafter  %+v", cmd.Name, before, after)
		}
		// The control: the same line on a plain account passes the guard.
		mk("plain")
		if r := run(cmd, "plain"); r.Code == "ERR_SECURITY_VIOLATION" || r.Code == "ERR_BAD_OPTIONS" || r.Code == "ERR_MISSING_PARAMETER" {
			t.Errorf("%s on a plain account: %s %q: the line is not valid, so the test proves nothing", cmd.Name, r.Code, r.Message)
		}
		if err := st.DeleteAccount(ctx, "plain"); err != nil && err != store.ErrNotFound {
			t.Fatal(err)
		}
	}
	if checked < 12 {
		t.Fatalf("only %d commands that change an account were found in the registry", checked)
	}
}
