package connect

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"gatehouse/internal/access"
	"gatehouse/internal/config"
	"gatehouse/internal/refusal"
	"gatehouse/internal/session"
	"gatehouse/internal/store"
)

// fakeStore is the relay's store contract in memory.
type fakeStore struct {
	groups   []store.Group
	acl      map[string][]store.ACLEntry // by kind+"/"+owner
	failACL  bool
	egress   map[string][]store.EgressKey // by kind+"/"+owner
	listings int                          // ListEgressKeys calls
}

func (f *fakeStore) ListEgressKeys(_ context.Context, kind, owner string) ([]store.EgressKey, error) {
	f.listings++
	return f.egress[kind+"/"+owner], nil
}

func (f *fakeStore) ListACL(_ context.Context, kind, owner, _ string) ([]store.ACLEntry, error) {
	if f.failACL {
		return nil, io.ErrUnexpectedEOF
	}
	return f.acl[kind+"/"+owner], nil
}

func (f *fakeStore) GroupsOf(_ context.Context, account string) ([]store.Group, error) {
	var out []store.Group
	for _, g := range f.groups {
		if g.Has(store.RoleMember, account) {
			out = append(out, g)
		}
	}
	return out, nil
}

func (f *fakeStore) ListGroups(context.Context) ([]store.Group, error) { return f.groups, nil }

func (f *fakeStore) KnownHostKeys(context.Context, string, string) ([]store.KnownHost, error) {
	return nil, nil
}

func (f *fakeStore) AddKnownHost(context.Context, store.KnownHost) error { return nil }

// fakeEnv shows refusals as their code, and has a fixed clock.
type fakeEnv struct {
	now   time.Time
	shown []*refusal.Refusal
}

func (e *fakeEnv) Deps() session.Deps {
	cfg := config.Default()
	return session.Deps{Config: func() *config.Config { return &cfg }, Now: func() time.Time { return e.now }}
}

func (e *fakeEnv) ShowRefusal(_ *session.Session, r *refusal.Refusal) int {
	e.shown = append(e.shown, r)
	return r.Exit
}

// TestConnectDecisions drives the connector's path up to the dial: each refusal is shown once,
// returned as the outcome (never written into the session), with The Bastion's exit status.
func TestConnectDecisions(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	web := store.Group{Name: "web", MFARequired: "password", Roles: map[string][]string{store.RoleMember: {"alice"}}}
	st := func() *fakeStore {
		return &fakeStore{groups: []store.Group{web},
			acl: map[string][]store.ACLEntry{store.ACLGroup + "/web": {{Host: "10.0.0.5", Port: 22}}}}
	}
	resolve := func(_ context.Context, host string) ([]netip.Addr, error) {
		if host == "db.example" {
			return []netip.Addr{netip.MustParseAddr("10.0.0.9")}, nil
		}
		return nil, io.EOF
	}
	var asked session.Target // what the MFA hook was told: the chat factors route by it
	mfaRefuses := func(_ context.Context, _ *session.Session, _ []string, t session.Target) *refusal.Refusal {
		asked = t
		return refusal.New("KO_MFA_FAILED", "no")
	}
	for _, tc := range []struct {
		name    string
		account store.Account
		req     session.Request
		store   func() *fakeStore
		mfa     MFAFunc
		exit    int
		code    string
		allowed bool
		ipTo    string
	}{
		{name: "invalid remote user", req: session.Request{Host: "10.0.0.5", User: "-oProxyCommand"}, exit: refusal.ExitInvalidUser, code: "KO_INVALID_REMOTE_USER"},
		{name: "invalid host", req: session.Request{Host: "bad host!"}, exit: refusal.ExitInvalidHost, code: "KO_INVALID_REMOTE_HOST"},
		{name: "unresolvable host", req: session.Request{Host: "nowhere.example"}, exit: refusal.ExitHostNotFound, code: "KO_HOST_NOT_FOUND"},
		{name: "store fails: refused", req: session.Request{Host: "10.0.0.5"}, store: func() *fakeStore { s := st(); s.failACL = true; return s },
			exit: refusal.ExitAccessDenied, code: "KO_ACCESS_DENIED", ipTo: "10.0.0.5"},
		{name: "no access", req: session.Request{Host: "db.example"}, exit: refusal.ExitAccessDenied, code: "KO_ACCESS_DENIED", ipTo: "10.0.0.9"},
		{name: "frozen", account: store.Account{Name: "alice", Frozen: true}, req: session.Request{Host: "10.0.0.5"},
			exit: refusal.ExitFrozen, code: "KO_ACCOUNT_FROZEN", ipTo: "10.0.0.5"},
		{name: "MFA required, no hook: fail closed", req: session.Request{Host: "10.0.0.5"}, exit: refusal.ExitMFAFailed, code: "KO_MFA_FAILED", ipTo: "10.0.0.5"},
		{name: "MFA hook refuses", req: session.Request{Host: "10.0.0.5"}, mfa: mfaRefuses, exit: refusal.ExitMFAFailed, code: "KO_MFA_FAILED", ipTo: "10.0.0.5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.account.Name == "" {
				tc.account = store.Account{Name: "alice"}
			}
			if tc.store == nil {
				tc.store = st
			}
			env := &fakeEnv{now: now}
			c := &Connector{Env: env, Store: tc.store(), Log: slog.New(slog.NewTextHandler(io.Discard, nil)), MFA: tc.mfa, Resolve: resolve}
			var errw bytes.Buffer
			s := &session.Session{Account: tc.account, Request: tc.req, Out: io.Discard, Err: &errw}
			out, exit := c.Connect(context.Background(), s)
			if exit != tc.exit {
				t.Errorf("exit %d, want %d", exit, tc.exit)
			}
			if len(env.shown) != 1 || env.shown[0].Code != tc.code {
				t.Errorf("shown %+v, want one %s", env.shown, tc.code)
			}
			if out.Allowed != tc.allowed || out.Comment != tc.code || out.Kind != "ssh" || out.Host != tc.req.Host || out.IPTo != tc.ipTo {
				t.Errorf("outcome %+v", out)
			}
			if tc.mfa != nil && (asked.IP.String() != tc.ipTo || asked.Host != tc.req.Host || asked.Port != 22) {
				t.Errorf("the MFA hook was told the target %+v, want the resolved %s", asked, tc.ipTo)
			}
		})
	}
}

// TestSignersFromTheDecisionsKeys: the relay opens the keys the inputs listed, once, and skips
// keys it was not given.
func TestSignersFromTheDecisionsKeys(t *testing.T) {
	c := &Connector{}
	signers, err := c.signers(decisionWithKeys("1", "2"), map[string]store.EgressKey{})
	if err != nil || len(signers) != 0 {
		t.Fatalf("signers %v, %v", signers, err)
	}
}

func decisionWithKeys(ids ...string) access.Decision {
	var keys []access.Key
	for _, id := range ids {
		keys = append(keys, access.Key{ID: id})
	}
	return access.Decision{Grants: []access.Grant{{Kind: access.KindPersonal, Keys: keys}}}
}

func TestRemoteCommandEscape(t *testing.T) {
	const plain, escaped = `echo 'a  b'`, `echo \'a  b\'`
	for _, byDefault := range []bool{false, true} {
		for _, always := range []bool{false, true} {
			for _, never := range []bool{false, true} {
				want := plain
				if always || byDefault && !never { // osh.pl's condition
					want = escaped
				}
				req := session.Request{Host: "h", RemoteCommandLine: plain, AlwaysEscape: always, NeverEscape: never}
				if got := RemoteCommand(req, byDefault); got != want {
					t.Errorf("RemoteCommand(default=%v always=%v never=%v) = %q, want %q", byDefault, always, never, got, want)
				}
			}
		}
	}
	if got := RemoteCommand(session.Request{Host: "h", RemoteCommandLine: `echo "x"`, AlwaysEscape: true}, false); got != `echo "x"` {
		t.Errorf("double quotes changed: %q", got)
	}
	if got := RemoteCommand(session.Request{Host: "h", AlwaysEscape: true}, true); got != "" {
		t.Errorf("no command: %q", got)
	}
}
