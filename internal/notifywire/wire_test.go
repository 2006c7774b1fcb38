package notifywire

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/audit"
	"gatehouse/internal/config"
	"gatehouse/internal/mfa/policy"
	"gatehouse/internal/mfaauth"
	"gatehouse/internal/notify"
	"gatehouse/internal/notify/approval"
	"gatehouse/internal/seal"
	"gatehouse/internal/store"
	"gatehouse/internal/store/sqlite"
)

func TestChannelsFor(t *testing.T) {
	n := &config.Notify{Groups: map[string]config.NotifyGroup{
		"dba": {Channels: []string{"teams", "slack"}}, "ops": {Channels: []string{"slack", "ntfy"}}, "quiet": {}}}
	def := []string{"default"}
	for _, tc := range []struct {
		name   string
		groups []string
		want   []string
	}{
		{"no group: defaults", nil, def},
		{"groups without an entry: defaults", []string{"web", "mail"}, def},
		{"one group", []string{"web", "dba"}, []string{"teams", "slack"}},
		{"union in group order, each once", []string{"ops", "dba"}, []string{"slack", "ntfy", "teams"}},
		{"a group with an empty list means no channel (not the defaults)", []string{"quiet"}, nil},
	} {
		if got := channelsFor(n, tc.groups, def); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func sqlStore(t *testing.T) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// sink is a channel that records what it is sent.
type sink struct {
	mu   sync.Mutex
	msgs []*notify.Message
	err  error
}

func (s *sink) Name() string { return "sink" }
func (s *sink) Send(_ context.Context, m *notify.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, m)
	return s.err
}

// The approval manager over the SQL store: decisions are a compare-and-set, a late or second
// decision is refused with the right error, and Wait sees what was decided.
func TestApprovalStoreSQL(t *testing.T) {
	st := sqlStore(t)
	ctx := context.Background()
	ch := &sink{}
	signer, _ := approval.NewLinkSigner(make([]byte, 32), "http://127.0.0.1:1/approval/")
	m := approval.NewManager(approval.Config{Store: approvalStore{st}, Links: signer, Poll: 20 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	rec, err := m.Start(ctx, notify.Request{Account: "alice", SourceIP: "192.0.2.1"},
		approval.Policy{Channels: []approval.Channel{{Sender: ch}}, FourEyes: true, TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Decide(ctx, rec.ID, approval.Approve, approval.Approver{Account: "alice", Via: "slack"}); !errors.Is(err, approval.ErrFourEyes) {
		t.Fatalf("self-approval: %v", err)
	}
	if _, err := m.Decide(ctx, rec.ID, approval.Approve, approval.Approver{Account: "bob", Via: "link"}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Decide(ctx, rec.ID, approval.Deny, approval.Approver{Account: "carol", Via: "link"}); !errors.Is(err, approval.ErrDecided) {
		t.Fatalf("second decision: %v", err)
	}
	got, err := m.Wait(ctx, rec.ID, nil)
	if err != nil || got.State != approval.Approved || got.DecidedBy.Account != "bob" || got.DecidedBy.Via != "link" {
		t.Fatalf("wait: %+v %v", got, err)
	}
	if _, err := m.Decide(ctx, "0011", approval.Approve, approval.Approver{Account: "bob"}); !errors.Is(err, approval.ErrNotFound) {
		t.Fatalf("unknown id: %v", err)
	}
	// Expiry through the store: a request that ran out is expired by Wait and cannot be approved.
	rec, _ = m.Start(ctx, notify.Request{Account: "alice"}, approval.Policy{Channels: []approval.Channel{{Sender: ch}}, TTL: 50 * time.Millisecond})
	if _, err := m.Wait(ctx, rec.ID, nil); !errors.Is(err, approval.ErrExpired) {
		t.Fatalf("wait past expiry: %v", err)
	}
	if _, err := m.Decide(ctx, rec.ID, approval.Approve, approval.Approver{Account: "bob"}); !errors.Is(err, approval.ErrExpired) {
		t.Fatalf("approval after expiry: %v", err)
	}
	if fresh, _ := (approvalStore{st}).Remember(ctx, "k", time.Now().Add(time.Minute)); !fresh {
		t.Fatal("first nonce")
	}
	if fresh, _ := (approvalStore{st}).Remember(ctx, "k", time.Now().Add(time.Minute)); fresh {
		t.Fatal("replayed nonce accepted")
	}
}

func TestSlackUsers(t *testing.T) {
	st := sqlStore(t)
	ctx := context.Background()
	for name, id := range map[string]string{"bob": "T1/U1", "carol": "U2", "dave": "U3", "erin": "T9/U3"} {
		if err := st.CreateAccount(ctx, store.Account{Name: name, CreatedAt: time.Now(), Settings: map[string]string{mfaauth.SettingSlackUserID: id}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	u := slackUsers{st}
	for _, tc := range []struct{ team, user, want string }{
		{"T1", "U1", "bob"}, {"T2", "U1", ""}, // bound to workspace T1
		{"T5", "U2", "carol"}, // any workspace
		{"T9", "U3", ""},      // dave (any workspace) and erin (T9) both claim it: nobody
		{"T1", "", ""},        // no user
		{"T1", "U404", ""},    // unknown
	} {
		got, err := u.SlackAccount(ctx, tc.team, tc.user)
		if got != tc.want || (tc.want == "") != errors.Is(err, approval.ErrUnknownUser) {
			t.Errorf("%s/%s: %q %v, want %q", tc.team, tc.user, got, err, tc.want)
		}
	}
}

// Taps: each event kind becomes the right alert (or none), off the caller's path; a code or
// approval channel that is missing makes the factor unavailable.
func TestTapsAndAvailability(t *testing.T) {
	var mu sync.Mutex
	var bodies []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
		w.Write([]byte("ok"))
	}))
	defer srv.Close()
	cfg, err := config.Parse("t.toml", []byte(`approvalListen = "127.0.0.1:0"
[notify]
codes = ["alerts"]
approvals = ["alerts"]
[notify.channels.alerts]
kind = "slack"
url = "`+srv.URL+`"
[notify.alerts]
channels = ["alerts"]
mfa_failure_threshold = 3
`))
	if err != nil {
		t.Fatal(err)
	}
	st := sqlStore(t)
	sealer, err := seal.LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w, err := New(ctx, Options{Config: &cfg, Store: st, Sealer: sealer, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateAccount(ctx, store.Account{Name: "root1", CreatedAt: time.Now(), Grants: []string{"admin"}}, nil); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()

	if got := w.Available(ctx, mfaauth.ChatRequest{Account: "a"}); got != policy.Webhook {
		t.Fatalf("available: %v (approvals only through Slack, without a signing secret: nothing can approve)", got)
	}
	w.LoginSucceeded("someone", "192.0.2.1") // not an admin: nothing
	w.LoginSucceeded("root1", "192.0.2.2")
	for range 3 {
		w.AuditEvent(audit.Event{Type: "mfa.fail", Fields: audit.Fields{Account: "alice", IPFrom: "192.0.2.3"}})
	}
	w.AuditEvent(audit.Event{Type: "mfa.pass", Fields: audit.Fields{Account: "alice"}})
	w.ConnectionEvent(audit.Event{Type: "connection.denied", Fields: audit.Fields{Account: "bob", User: "root", HostTo: "db1", PortTo: 22, Extra: map[string]string{"error_code": "KO_ACCESS_DENIED"}}})
	w.ConnectionEvent(audit.Event{Type: "hostkey.changed-refused", Fields: audit.Fields{Account: "bob", Extra: map[string]string{"hostport": "[db1]:22", "fingerprint": "SHA256:abc"}}})
	w.CommandDone("root1", "192.0.2.2", "accountCreate", []string{"--account", "zed"}, "OK")
	w.CommandDone("root1", "192.0.2.2", "groupAddMember", []string{"--group", "g", "--account", "zed"}, "OK")
	w.CommandDone("root1", "192.0.2.2", "accountList", nil, "OK")
	w.CommandDone("zed", "192.0.2.4", "accountList", nil, "KO_RESTRICTED_COMMAND")
	want := []string{"admin login", "repeated MFA failures", "access refused", "target host key changed", "account created", "access granted"}
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		all := strings.Join(bodies, "\n")
		n := len(bodies)
		mu.Unlock()
		missing := ""
		for _, s := range want {
			if !strings.Contains(all, s) {
				missing = s
			}
		}
		if missing == "" && n == 7 {
			if strings.Contains(all, "someone") || !strings.Contains(all, "3 second-factor failures") || !strings.Contains(all, "SHA256:abc") {
				t.Fatalf("alert contents:\n%s", all)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d alerts, missing %q:\n%s", n, missing, all)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	if s := w.Stats(); s.Sent != 7 || s.Dropped != 0 || s.TapsDropped != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestAlertRoutes(t *testing.T) {
	got := AlertRoutes(config.NotifyAlerts{Channels: []string{"ops"}, Kinds: []string{"admin_login", "access_refused", "grant_given"},
		Routes: map[string][]string{"access_refused": {"security", "ops"}, "host_key_changed": {"security"}}})
	want := map[string][]string{
		"ops":      {"admin_login", "access_refused", "grant_given"},
		"security": {"access_refused", "host_key_changed"},
	}
	if len(got) != len(want) {
		t.Fatalf("routes %v", got)
	}
	for ch, kinds := range want {
		if !slices.Equal(got[ch], kinds) {
			t.Errorf("%s: %v, want %v", ch, got[ch], kinds)
		}
	}
	if all := AlertRoutes(config.NotifyAlerts{Channels: []string{"ops"}}); len(all["ops"]) != len(config.AlertKinds) {
		t.Errorf("no kinds means all: %v", all)
	}
	if none := AlertRoutes(config.NotifyAlerts{}); len(none) != 0 {
		t.Errorf("no channel: %v", none)
	}
}
