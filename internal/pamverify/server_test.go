package pamverify

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/audit"
	"gatehouse/internal/config"
	"gatehouse/internal/notify"
	"gatehouse/internal/store"
	"gatehouse/internal/ticket"
)

var now = time.Date(2026, 12, 2, 7, 0, 0, 0, time.UTC)

type fixture struct {
	srv     *Server
	priv    ed25519.PrivateKey
	token   string
	events  []map[string]any
	raw     []audit.Event // the same events as appended, for where each field goes in the line
	auditOK bool
	accts   map[string]store.Account
	storeOK bool
	factor  FactorResult
	checked int
}

func newFixture(t *testing.T) *fixture {
	pub, priv, _ := ed25519.GenerateKey(nil)
	token, sum, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{priv: priv, token: token, auditOK: true, storeOK: true, factor: FactorOK,
		accts: map[string]store.Account{"alice": {ID: "id-alice", Name: "alice"}}}
	other := sha256.Sum256([]byte("web2-token"))
	cfg := config.PAM{Listen: "127.0.0.1:0", Servers: map[string]config.PAMServer{
		"web1": {TokenSHA256: sum, Addresses: []string{"10.0.0.5"}},
		"web2": {TokenSHA256: hex.EncodeToString(other[:]), Addresses: []string{"10.0.0.6"}, AllowNoTicket: true},
	}}
	f.srv = &Server{
		Config:    func() config.PAM { return cfg },
		TicketKey: pub,
		Accounts: func(_ context.Context, name string) (store.Account, error) {
			if !f.storeOK {
				return store.Account{}, errors.New("disk on fire")
			}
			a, ok := f.accts[name]
			if !ok {
				return store.Account{}, store.ErrNotFound
			}
			return a, nil
		},
		Expired:   func(a store.Account, now time.Time) bool { return !a.ExpiresAt.IsZero() && !now.Before(a.ExpiresAt) },
		CheckTOTP: func(context.Context, string, string) FactorResult { f.checked++; return f.factor },
		AppendAudit: func(_ context.Context, ev audit.Event) error {
			if !f.auditOK {
				return errors.New("audit full")
			}
			f.events = append(f.events, ev.Fields.Map())
			f.raw = append(f.raw, ev)
			return nil
		},
		Now: func() time.Time { return now },
	}
	return f
}

func (f *fixture) ticket(t *testing.T, account, id, ip string) string {
	tk, _ := ticket.New(now, time.Hour, id, account, "sess-1", ip, ip, 22, "ubuntu")
	s, err := ticket.Encode(f.priv, tk)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (f *fixture) post(t *testing.T, token, body string) Response {
	req := httptest.NewRequest(http.MethodPost, Path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	f.srv.ServeHTTP(w, req)
	var r Response
	if err := json.Unmarshal(w.Body.Bytes(), &r); err != nil {
		t.Fatalf("answer %q: %v", w.Body.String(), err)
	}
	return r
}

func body(ticket, account string) string {
	b, _ := json.Marshal(Request{Ticket: ticket, Account: account, Code: "123456", Service: "sudo", User: "ubuntu", Program: "sudo"})
	return string(b)
}

func TestServerDecisions(t *testing.T) {
	for _, c := range []struct {
		name    string
		setup   func(f *fixture) (token, body string)
		allow   bool
		checked bool
		reason  string
	}{
		{"allowed", func(f *fixture) (string, string) {
			return f.token, body(f.ticket(t, "alice", "id-alice", "10.0.0.5"), "")
		}, true, true, "TOTP ok"},
		{"wrong code", func(f *fixture) (string, string) {
			f.factor = FactorWrong
			return f.token, body(f.ticket(t, "alice", "id-alice", "10.0.0.5"), "")
		}, false, true, "wrong TOTP code"},
		{"no token", func(f *fixture) (string, string) { return "", body(f.ticket(t, "alice", "id-alice", "10.0.0.5"), "") }, false, false, "unknown server token"},
		{"wrong token", func(f *fixture) (string, string) {
			return "ght_guess", body(f.ticket(t, "alice", "id-alice", "10.0.0.5"), "")
		}, false, false, "unknown server token"},
		{"other server's ticket", func(f *fixture) (string, string) {
			return f.token, body(f.ticket(t, "alice", "id-alice", "10.0.0.6"), "")
		}, false, false, "ticket issued for another server"},
		{"namesake", func(f *fixture) (string, string) {
			return f.token, body(f.ticket(t, "alice", "id-old-alice", "10.0.0.5"), "")
		}, false, false, "the ticket's account was deleted"},
		{"deleted", func(f *fixture) (string, string) {
			delete(f.accts, "alice")
			return f.token, body(f.ticket(t, "alice", "id-alice", "10.0.0.5"), "")
		}, false, false, "unknown account"},
		{"expired account", func(f *fixture) (string, string) {
			f.accts["alice"] = store.Account{ID: "id-alice", Name: "alice", ExpiresAt: now.Add(-time.Second)}
			return f.token, body(f.ticket(t, "alice", "id-alice", "10.0.0.5"), "")
		}, false, false, "account expired"},
		{"store error", func(f *fixture) (string, string) {
			f.storeOK = false
			return f.token, body(f.ticket(t, "alice", "id-alice", "10.0.0.5"), "")
		}, false, false, "internal error reading the account"},
		{"audit failing", func(f *fixture) (string, string) {
			f.auditOK = false
			return f.token, body(f.ticket(t, "alice", "id-alice", "10.0.0.5"), "")
		}, false, true, "the bastion cannot record the decision"},
		{"no ticket where required", func(f *fixture) (string, string) { return f.token, body("", "alice") }, false, false, "no ticket (this server requires one)"},
		{"no ticket allowed", func(f *fixture) (string, string) { return "web2-token", body("", "alice") }, true, true, "TOTP ok"},
		{"no ticket nor account", func(f *fixture) (string, string) { return "web2-token", body("", "") }, false, false, "no ticket and no account named"},
		{"garbage body", func(f *fixture) (string, string) { return f.token, "{" }, false, false, "bad request"},
		{"unknown field", func(f *fixture) (string, string) { return f.token, `{"code":"1","allow":true}` }, false, false, "bad request"},
		{"huge body", func(f *fixture) (string, string) { return f.token, strings.Repeat(" ", maxBody+10) }, false, false, "request too large"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			token, b := c.setup(f)
			r := f.post(t, token, b)
			if r.Allow != c.allow || !strings.Contains(r.Message, c.reason) {
				t.Fatalf("answer %+v, want allow=%v reason %q", r, c.allow, c.reason)
			}
			if (f.checked > 0) != c.checked {
				t.Fatalf("factor checked %d times, want checked=%v", f.checked, c.checked)
			}
			if f.auditOK && len(f.events) != 1 {
				t.Fatalf("%d audit events, want 1", len(f.events))
			}
			for _, ev := range f.events {
				if strings.Contains(toJSON(ev), "123456") || strings.Contains(toJSON(ev), f.token) {
					t.Fatalf("a secret in the audit: %v", ev)
				}
			}
		})
	}
}

func toJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

func TestServerMethodAndPath(t *testing.T) {
	f := newFixture(t)
	for _, c := range []struct {
		method, path string
		code         int
	}{{http.MethodGet, Path, 405}, {http.MethodPost, "/other", 404}} {
		w := httptest.NewRecorder()
		f.srv.ServeHTTP(w, httptest.NewRequest(c.method, c.path, nil))
		if w.Code != c.code {
			t.Errorf("%s %s: %d, want %d", c.method, c.path, w.Code, c.code)
		}
	}
}

// A pending chat code answers only for the server and the account it was posted for, once.
func TestTakeCodeBinding(t *testing.T) {
	s := &Server{pending: map[string]pendingCode{"id1": {server: "web3", account: "alice", ch: &notify.CodeChallenge{}},
		"id3": {server: "web3", account: "alice", approval: "appr"}}} // an approval is not a code
	for _, c := range []struct{ id, server, account string }{
		{"id1", "web1", "alice"}, {"id1", "web3", "bob"}, {"id2", "web3", "alice"}, {"id3", "web3", "alice"}, {"", "web3", "alice"},
	} {
		if _, ok := s.takeCode(c.id, c.server, c.account); ok {
			t.Fatalf("%+v took the code", c)
		}
	}
	if _, ok := s.takeCode("id1", "web3", "alice"); !ok {
		t.Fatal("the right server and account did not take the code")
	}
	if _, ok := s.takeCode("id1", "web3", "alice"); ok {
		t.Fatal("a code was taken twice")
	}
}

func TestStartWithoutChatRefuses(t *testing.T) {
	f := newFixture(t)
	cfg := f.srv.Config()
	srv := cfg.Servers["web1"]
	srv.Factor = "webhook"
	cfg.Servers["web1"] = srv
	f.srv.Config = func() config.PAM { return cfg }
	b, _ := json.Marshal(Request{Ticket: f.ticket(t, "alice", "id-alice", "10.0.0.5"), Service: "sudo", User: "ubuntu"})
	req := httptest.NewRequest(http.MethodPost, PathStart, strings.NewReader(string(b)))
	req.Header.Set("Authorization", "Bearer "+f.token)
	w := httptest.NewRecorder()
	f.srv.ServeHTTP(w, req)
	var r Response
	_ = json.Unmarshal(w.Body.Bytes(), &r)
	if r.Allow || r.Prompt != "" || !strings.Contains(r.Message, "chat code not delivered") {
		t.Fatalf("start without a chat: %+v", r)
	}
}
