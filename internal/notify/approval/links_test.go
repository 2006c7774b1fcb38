package approval

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/notify"
)

var linkKey = bytes.Repeat([]byte{0x42}, 32)

type linkFixture struct {
	clock  *clock
	m      *Manager
	obs    *recorder
	signer *LinkSigner
	site   *httptest.Server
	chat   *chatService
}

func newLinkFixture(t *testing.T) *linkFixture {
	f := &linkFixture{clock: &clock{t: time.Now()}, obs: &recorder{}, chat: newChat(t, 202, "")}
	mux := http.NewServeMux()
	f.site = httptest.NewServer(mux)
	t.Cleanup(f.site.Close)
	var err error
	if f.signer, err = NewLinkSigner(linkKey, f.site.URL+"/approval/"); err != nil {
		t.Fatal(err)
	}
	f.m = NewManager(Config{Store: NewMemStore(f.clock.Now), Links: f.signer, Observer: f.obs, Now: f.clock.Now, Bastion: "bh1", Logger: quiet()})
	mux.Handle("/approval/", &LinkHandler{Signer: f.signer, Manager: f.m, Now: f.clock.Now})
	return f
}

// start posts a request to a stand-in Teams Workflows channel per approver
// ("" = unbound) and returns the request id and, per approver, the
// Approve/Deny URLs read back from each Adaptive Card.
func (f *linkFixture) start(t *testing.T, p Policy, approvers ...string) (string, map[string][2]string) {
	t.Helper()
	for _, a := range approvers {
		p.Channels = append(p.Channels, Channel{Sender: &notify.TeamsWorkflow{Endpoint: notify.Endpoint{Name: "teams-" + a, URL: f.chat.URL}}, Approver: a})
	}
	if p.TTL == 0 {
		p.TTL = 2 * time.Minute
	}
	rec, err := f.m.Start(context.Background(), notify.Request{Account: "bob", SourceIP: "192.0.2.7", Target: "root@db1:22"}, p)
	if err != nil {
		t.Fatal(err)
	}
	f.chat.mu.Lock()
	bodies := f.chat.bodies[len(f.chat.bodies)-len(approvers):]
	f.chat.mu.Unlock()
	links := map[string][2]string{}
	for _, b := range bodies {
		var card struct {
			Attachments []struct {
				Content struct {
					Actions []struct{ Type, Title, URL string } `json:"actions"`
				} `json:"content"`
			} `json:"attachments"`
		}
		if err := json.Unmarshal(b, &card); err != nil {
			t.Fatal(err)
		}
		acts := card.Attachments[0].Content.Actions
		if len(acts) != 2 || acts[0].Type != "Action.OpenUrl" || acts[0].Title != "Approve" {
			t.Fatalf("card actions %+v", acts)
		}
		p, _, err := f.signer.parse(acts[0].URL[strings.LastIndex(acts[0].URL, "/")+1:], f.clock.Now())
		if err != nil {
			t.Fatalf("link in the card does not verify: %v", err)
		}
		links[p.Approver] = [2]string{acts[0].URL, acts[1].URL}
	}
	return rec.ID, links
}

func (f *linkFixture) state(t *testing.T, id string) Record {
	t.Helper()
	rec, err := f.m.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func get(t *testing.T, method, u string) (int, string, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(method, u, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func post(t *testing.T, u string, form url.Values) (int, string) {
	t.Helper()
	resp, err := http.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestLinkApproveOnlyOnPost(t *testing.T) {
	f := newLinkFixture(t)
	id, links := f.start(t, Policy{}, "")
	approve := links[""][0]

	// A link previewer (GET, HEAD) sees a page and decides nothing.
	code, page, hdr := get(t, http.MethodGet, approve)
	if code != 200 || !strings.Contains(page, `<form method="post">`) || !strings.Contains(page, "bob") ||
		!strings.Contains(page, f.state(t, id).Label) || !strings.Contains(page, `value="approve"`) {
		t.Fatalf("GET: HTTP %d\n%s", code, page)
	}
	if hdr.Get("Referrer-Policy") != "no-referrer" || hdr.Get("Cache-Control") != "no-store" || !strings.Contains(hdr.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Errorf("headers %v", hdr)
	}
	if code, _, _ := get(t, http.MethodHead, approve); code != 200 {
		t.Errorf("HEAD: HTTP %d", code)
	}
	if st := f.state(t, id).State; st != Pending {
		t.Fatalf("GET/HEAD decided the request: %s", st)
	}
	// A POST that did not come from the form is refused.
	if code, _ := post(t, approve, nil); code != http.StatusBadRequest || f.state(t, id).State != Pending {
		t.Fatalf("POST without confirm: HTTP %d, state %s", code, f.state(t, id).State)
	}
	if code, _ := post(t, approve, url.Values{"confirm": {"deny"}}); code != http.StatusBadRequest {
		t.Errorf("POST with the other action's confirm: HTTP %d", code)
	}
	if code, _, _ := get(t, http.MethodPut, approve); code != http.StatusMethodNotAllowed {
		t.Errorf("PUT: HTTP %d", code)
	}
	// The form's POST decides.
	if code, page := post(t, approve, url.Values{"confirm": {"approve"}}); code != 200 || !strings.Contains(page, "approved") {
		t.Fatalf("POST: HTTP %d\n%s", code, page)
	}
	rec := f.state(t, id)
	if rec.State != Approved || rec.DecidedBy != (Approver{Via: "link"}) {
		t.Errorf("record %+v", rec)
	}
	// One time: the same link, or the deny link, does nothing more.
	if code, _ := post(t, approve, url.Values{"confirm": {"approve"}}); code != http.StatusConflict {
		t.Errorf("second POST: HTTP %d, want 409", code)
	}
	if code, _ := post(t, links[""][1], url.Values{"confirm": {"deny"}}); code != http.StatusConflict || f.state(t, id).State != Approved {
		t.Errorf("deny after approval: HTTP %d", code)
	}
	if code, page, _ := get(t, http.MethodGet, approve); code != http.StatusConflict || strings.Contains(page, "<form") {
		t.Errorf("GET after decision: HTTP %d, form shown: %v", code, strings.Contains(page, "<form"))
	}
}

func TestLinkDeny(t *testing.T) {
	f := newLinkFixture(t)
	id, links := f.start(t, Policy{}, "")
	if code, _ := post(t, links[""][1], url.Values{"confirm": {"deny"}}); code != 200 {
		t.Fatalf("deny: HTTP %d", code)
	}
	if _, err := f.m.Wait(context.Background(), id, nil); !errors.Is(err, ErrDenied) {
		t.Errorf("Wait = %v, want ErrDenied", err)
	}
}

// TestLinkBoundApprovers: with four eyes, each channel's links are bound to
// its approver; the requester's own link cannot approve, unbound links
// cannot approve, another approver's link can, and the audit names them.
func TestLinkBoundApprovers(t *testing.T) {
	f := newLinkFixture(t)
	id, links := f.start(t, Policy{FourEyes: true}, "bob", "alice", "")
	if len(links) != 3 {
		t.Fatalf("links %v", links)
	}
	form := url.Values{"confirm": {"approve"}}
	if code, page := post(t, links["bob"][0], form); code != http.StatusForbidden || !strings.Contains(page, "own request") {
		t.Errorf("requester's link: HTTP %d\n%s", code, page)
	}
	if code, _ := post(t, links[""][0], form); code != http.StatusForbidden {
		t.Errorf("unbound link with four eyes: HTTP %d, want 403", code)
	}
	if st := f.state(t, id).State; st != Pending {
		t.Fatalf("state %s after refused links", st)
	}
	_, refused := f.obs.snapshot()
	if len(refused) != 2 || !errors.Is(refused[0], ErrFourEyes) || !errors.Is(refused[1], ErrUnidentified) {
		t.Errorf("observer refusals %v", refused)
	}
	if code, _, _ := get(t, http.MethodGet, links["alice"][0]); code != 200 {
		t.Errorf("GET alice's link: HTTP %d", code)
	}
	if code, _ := post(t, links["alice"][0], form); code != 200 {
		t.Fatalf("alice's link: HTTP %d", code)
	}
	rec := f.state(t, id)
	if rec.State != Approved || rec.DecidedBy.Account != "alice" || rec.DecidedBy.Via != "link" {
		t.Errorf("record %+v", rec)
	}
	decided, _ := f.obs.snapshot()
	if len(decided) != 1 || decided[0].DecidedBy.Account != "alice" {
		t.Errorf("observer %+v", decided)
	}
}

func TestLinkRefused(t *testing.T) {
	f := newLinkFixture(t)
	id, links := f.start(t, Policy{}, "")
	approve := links[""][0]
	form := url.Values{"confirm": {"approve"}}

	// Tampered: change the payload (here: the action) and keep the MAC.
	i := strings.LastIndex(approve, "/") + 1
	enc, mac, _ := strings.Cut(approve[i:], ".")
	deny, _, _ := strings.Cut(links[""][1][i:], ".")
	forged := []string{
		approve[:i] + deny + "." + mac,
		approve[:i] + enc + "." + flip(mac),
		approve[:i] + enc,
		approve[:i] + "garbage",
	}
	other, _ := NewLinkSigner(bytes.Repeat([]byte{7}, 32), f.site.URL+"/approval/")
	forged = append(forged, other.URL(id, Approve, "alice", f.clock.Now().Add(time.Minute)))
	for _, u := range forged {
		if code, _ := post(t, u, form); code != http.StatusNotFound {
			t.Errorf("forged link %s: HTTP %d, want 404", u, code)
		}
		if code, _, _ := get(t, http.MethodGet, u); code != http.StatusNotFound {
			t.Errorf("GET forged link: HTTP %d, want 404", code)
		}
	}
	if st := f.state(t, id).State; st != Pending {
		t.Fatalf("state %s after forged links", st)
	}
	// Expired.
	f.clock.Add(3 * time.Minute)
	if code, _ := post(t, approve, form); code != http.StatusGone {
		t.Errorf("expired link: HTTP %d, want 410", code)
	}
	if st := f.state(t, id).State; st != Pending {
		t.Errorf("state %s", st)
	}
}

func TestNewLinkSigner(t *testing.T) {
	if _, err := NewLinkSigner(make([]byte, 16), "https://b.example/a/"); err == nil {
		t.Error("short key accepted")
	}
	if _, err := NewLinkSigner(linkKey, "http://b.example/a/"); err == nil {
		t.Error("plain http base accepted")
	}
	s, err := NewLinkSigner(linkKey, "https://b.example/a")
	if err != nil {
		t.Fatal(err)
	}
	u := s.URL("r1", Deny, "", time.Unix(2e9, 0))
	if !strings.HasPrefix(u, "https://b.example/a/") || strings.ContainsAny(u[len("https://b.example/a/"):], "/,;+=") {
		t.Errorf("URL %q", u)
	}
}

// flip changes the first character of a base64url string.
func flip(s string) string {
	c := byte('A')
	if s[0] == 'A' {
		c = 'B'
	}
	return string(c) + s[1:]
}
