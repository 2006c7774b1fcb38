package console

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/config"
	"gatehouse/internal/record"
	"gatehouse/internal/store"
)

func TestLoginTokenOnceAndFor60s(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	tb := newTable()
	id := Identity{AccountID: "id1", Account: "alice"}
	tb.put("a", entry{id: id, expires: now.Add(LoginTTL)}, now)
	tb.put("b", entry{id: id, expires: now.Add(LoginTTL)}, now)
	if e, ok := tb.take("a", now.Add(59*time.Second)); !ok || e.id.AccountID != id.AccountID {
		t.Fatal("a fresh token is refused")
	}
	if _, ok := tb.take("a", now.Add(59*time.Second)); ok {
		t.Fatal("a token worked twice")
	}
	if _, ok := tb.take("b", now.Add(LoginTTL)); ok {
		t.Fatal("a token worked at 60 s")
	}
	if _, ok := tb.take("b", now); ok {
		t.Fatal("an expired token, tried once, came back")
	}
	if _, ok := tb.take("", now); ok {
		t.Fatal("the empty token")
	}
}

func TestAccountRefusal(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	ok := store.Account{ID: "id1", Name: "alice"}
	for _, c := range []struct {
		name string
		acc  store.Account
		err  error
		id   string
		want string
	}{
		{"live", ok, nil, "id1", ""},
		{"gone", store.Account{}, errors.New("not found"), "id1", "no longer exists"},
		{"recreated under the name", store.Account{ID: "id2", Name: "alice"}, nil, "id1", "deleted"},
		{"empty bound id", store.Account{ID: "", Name: "alice"}, nil, "", "deleted"},
		{"frozen", store.Account{ID: "id1", Frozen: true}, nil, "id1", "frozen"},
		{"expired", store.Account{ID: "id1", ExpiresAt: now}, nil, "id1", "expired"},
		{"expires later", store.Account{ID: "id1", ExpiresAt: now.Add(time.Second)}, nil, "id1", ""},
	} {
		got := AccountRefusal(c.acc, c.err, c.id, now)
		if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

func TestSameOrigin(t *testing.T) {
	for _, c := range []struct {
		site, origin, host string
		want               bool
	}{
		{"", "", "b:8444", true},
		{"same-origin", "https://b:8444", "b:8444", true},
		{"none", "", "b:8444", true},
		{"same-site", "https://b:8444", "b:8444", false},
		{"cross-site", "https://evil", "b:8444", false},
		{"", "https://evil", "b:8444", false},
		{"", "null", "b:8444", false},
		{"same-origin", "https://b:9999", "b:8444", false},
		{"", "https://B:8444", "b:8444", true},
	} {
		if got := SameOrigin(c.site, c.origin, c.host); got != c.want {
			t.Errorf("SameOrigin(%q, %q, %q) = %v", c.site, c.origin, c.host, got)
		}
	}
}

func TestSessionQueryFilter(t *testing.T) {
	plain := Viewer{AccountID: "id-bob", Account: "bob"}
	auditor := Viewer{AccountID: "id-eve", Account: "eve"}
	auditor.Roles.Auditor = true
	f, err := SessionQuery{Account: "alice"}.Filter(plain)
	if err != nil || f.AccountID != "id-bob" || f.Account != "" {
		t.Fatalf("plain account asking for alice: %+v %v", f, err)
	}
	if f, err = (SessionQuery{Account: "alice"}).Filter(auditor); err != nil || f.Account != "alice" || f.AccountID != "" {
		t.Fatalf("auditor: %+v %v", f, err)
	}
	if _, err := (SessionQuery{}).Filter(Viewer{Account: "x"}); err == nil {
		t.Fatal("a viewer without id lists everything")
	}
	for _, bad := range []SessionQuery{{After: "yesterday"}, {Before: "2026-13-01"}, {Status: "x"}} {
		if _, err := bad.Filter(plain); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	if f, err = (SessionQuery{After: "2026-01-02", Before: "2026-01-03T10:00"}).Filter(plain); err != nil || f.After.Day() != 2 || f.Before.Hour() != 10 {
		t.Fatalf("dates: %+v %v", f, err)
	}
}

func castOf(t testing.TB, events string) *record.Reader {
	rd, err := record.NewReader(strings.NewReader(`{"version":2,"width":80,"height":24}` + "\n" + events))
	if err != nil {
		t.Fatal(err)
	}
	return rd
}

func TestSearchRecording(t *testing.T) {
	rd := castOf(t, `[0.5,"o","$ ls\r\n"]`+"\n"+`[1.5,"o","\u001b[1;31mNEE"]`+"\n"+`[2.0,"o","DLE\u001b[0m here\r\n"]`+"\n"+`[3.0,"i","needle typed"]`+"\n"+`[4.0,"o","another needle\r\n"]`+"\n")
	hits, err := SearchRecording(rd, "Needle")
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) != 2 || hits[0].Time != 2.0 || hits[0].Text != "NEEDLE" || hits[1].Time != 4.0 {
		t.Fatalf("hits %+v", hits)
	}
}

func TestWriteAsciicastRoundTrips(t *testing.T) {
	rd := castOf(t, `[0.5,"o","h\u00e9llo"]`+"\n"+`[0.7,"i","secret"]`+"\n"+`[1,"r","100x30"]`+"\n")
	var buf bytes.Buffer
	if err := WriteAsciicast(&buf, rd); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "secret") {
		t.Fatal("input events are served")
	}
	back, err := record.NewReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	ev, _ := back.Next()
	ev2, _ := back.Next()
	if string(ev.Data) != "héllo" || ev2.Kind != record.KindResize || ev2.Cols != 100 {
		t.Fatalf("%+v %+v", ev, ev2)
	}
}

// memStore is just enough store for the handler tests.
type memStore struct {
	store.Store
	acc store.Account
}

func (m *memStore) GetAccount(_ context.Context, name string) (store.Account, error) {
	if name != m.acc.Name {
		return store.Account{}, errors.New("no such account")
	}
	return m.acc, nil
}

func TestHandlerHeadersCSRFAndFreeze(t *testing.T) {
	cfg := config.Default()
	cfg.Web = config.Web{Listen: "127.0.0.1:0", PlainHTTPLoopback: true}
	st := &memStore{acc: store.Account{ID: "id1", Name: "alice"}}
	now := time.Unix(1_700_000_000, 0)
	c, err := New(Options{Store: st, Config: func() *config.Config { return &cfg }, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	c.base = "http://127.0.0.1:1"
	link, err := c.IssueLogin(context.Background(), st.acc, []string{"publickey"})
	if err != nil {
		t.Fatal(err)
	}
	h := c.Handler()
	do := func(method, target string, cookie *http.Cookie, body string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, target, strings.NewReader(body))
		if body != "" {
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		if cookie != nil {
			r.AddCookie(cookie)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	w := do("GET", strings.TrimPrefix(link, c.base), nil, "")
	if w.Code != http.StatusSeeOther {
		t.Fatalf("login: %d", w.Code)
	}
	if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Fatalf("CSP %q", csp)
	}
	ck := w.Result().Cookies()[0]
	if !ck.HttpOnly || !ck.Secure || ck.SameSite != http.SameSiteStrictMode || ck.MaxAge != int((12*time.Hour).Seconds()) {
		t.Fatalf("cookie %+v", ck)
	}
	if w := do("GET", strings.TrimPrefix(link, c.base), nil, ""); w.Code != http.StatusForbidden {
		t.Fatalf("second login: %d", w.Code)
	}
	if w := do("GET", "/", ck, ""); w.Code != 200 || !strings.Contains(w.Body.String(), "alice") {
		t.Fatalf("home: %d", w.Code)
	}
	if w := do("POST", "/logout", ck, "csrf=wrong"); w.Code != http.StatusForbidden {
		t.Fatalf("logout with a wrong token: %d", w.Code)
	}
	if w := do("POST", "/logout", ck, ""); w.Code != http.StatusForbidden {
		t.Fatalf("logout without token: %d", w.Code)
	}
	st.acc.Frozen = true
	if w := do("GET", "/", ck, ""); w.Code != http.StatusUnauthorized || !strings.Contains(w.Body.String(), "frozen") {
		t.Fatalf("frozen: %d", w.Code)
	}
	st.acc.Frozen = false
	if w := do("GET", "/", ck, ""); w.Code != http.StatusUnauthorized {
		t.Fatalf("the session came back after the unfreeze: %d", w.Code)
	}
	// The session cookie dies with its lifetime.
	link, _ = c.IssueLogin(context.Background(), st.acc, nil)
	ck = do("GET", strings.TrimPrefix(link, c.base), nil, "").Result().Cookies()[0]
	now = now.Add(12 * time.Hour)
	if w := do("GET", "/", ck, ""); w.Code != http.StatusUnauthorized {
		t.Fatalf("after 12 h: %d", w.Code)
	}
}

func FuzzSearchRecording(f *testing.F) {
	f.Add([]byte(`[0.5,"o","\u001b]0;title\u0007abc\r\n"]`), "abc")
	f.Add([]byte(`[1,"o","\u001b[31mx\by"]`), "y")
	f.Add([]byte("garbage"), "")
	f.Fuzz(func(t *testing.T, events []byte, needle string) {
		rd, err := record.NewReader(bytes.NewReader(append([]byte(`{"version":2,"width":80,"height":24}`+"\n"), events...)))
		if err != nil {
			return
		}
		hits, _ := SearchRecording(rd, needle)
		if len(hits) > maxHits {
			t.Fatalf("%d hits", len(hits))
		}
	})
}

func FuzzSessionQuery(f *testing.F) {
	f.Add("alice", "web1", "open", "2026-01-02", "2026-01-03T10:00")
	f.Add("", "", "bogus", "x", "")
	f.Fuzz(func(t *testing.T, account, host, status, after, before string) {
		v := Viewer{AccountID: "id-bob", Account: "bob"}
		fl, err := SessionQuery{Account: account, Host: host, Status: status, After: after, Before: before}.Filter(v)
		if err == nil && (fl.AccountID != "id-bob" || fl.Account != "") {
			t.Fatalf("a plain viewer's filter widened: %+v", fl)
		}
	})
}

func FuzzSameOrigin(f *testing.F) {
	f.Add("same-origin", "https://b:8444", "b:8444")
	f.Add("cross-site", "", "b")
	f.Fuzz(func(t *testing.T, site, origin, host string) {
		if SameOrigin(site, origin, host) && site != "" && site != "same-origin" && site != "none" {
			t.Fatalf("accepted Sec-Fetch-Site %q", site)
		}
	})
}
