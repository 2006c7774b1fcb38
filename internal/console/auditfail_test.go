package console

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/audit"
	"gatehouse/internal/config"
	"gatehouse/internal/store"
)

// TestLoginFailsClosedWithoutAudit: while the audit log cannot be written, no login link is
// issued, and a link issued before does not open a session (no cookie); once the log writes
// again, the link works.
func TestLoginFailsClosedWithoutAudit(t *testing.T) {
	cfg := config.Default()
	cfg.Web = config.Web{Listen: "127.0.0.1:0", PlainHTTPLoopback: true}
	st := &memStore{acc: store.Account{ID: "id1", Name: "alice"}}
	now := time.Unix(1_700_000_000, 0)
	var failing error
	var types []string
	c, err := New(Options{Store: st, Config: func() *config.Config { return &cfg }, Now: func() time.Time { return now },
		AppendAudit: func(_ context.Context, ev audit.Event) error {
			if failing != nil {
				return failing
			}
			types = append(types, ev.Type)
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	c.base = "http://127.0.0.1:1"
	failing = errors.New("write audit: no space left on device")
	if link, err := c.IssueLogin(context.Background(), st.acc, []string{"publickey"}); err == nil {
		t.Fatalf("a login link was issued while the audit log fails: %s", link)
	}
	failing = nil
	link, err := c.IssueLogin(context.Background(), st.acc, []string{"publickey"})
	if err != nil {
		t.Fatal(err)
	}
	failing = errors.New("write audit: no space left on device")
	w := httptest.NewRecorder()
	c.Handler().ServeHTTP(w, httptest.NewRequest("GET", strings.TrimPrefix(link, c.base), nil))
	if w.Code != http.StatusServiceUnavailable || len(w.Result().Cookies()) != 0 {
		t.Fatalf("login while the audit log fails: HTTP %d, cookies %v", w.Code, w.Result().Cookies())
	}
	if len(types) != 1 || types[0] != "web.login_issued" {
		t.Fatalf("audited %v, want only the issued link", types)
	}
}
