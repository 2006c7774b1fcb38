package pamverify

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"gatehouse/internal/config"
	"gatehouse/internal/mfaauth"
	"gatehouse/internal/notify/approval"
	"gatehouse/internal/store"
)

// approvalFixture is a fixture whose web1 asks a colleague's approval, with a fake approval
// store the test decides in.
type approvalFixture struct {
	*fixture
	recs    map[string]approval.Record
	started []mfaauth.ChatRequest
	down    bool
}

func newApprovalFixture(t *testing.T) *approvalFixture {
	f := &approvalFixture{fixture: newFixture(t), recs: map[string]approval.Record{}}
	cfg := f.srv.Config()
	srv := cfg.Servers["web1"]
	srv.Factor = "approval"
	cfg.Servers["web1"] = srv
	f.srv.Config = func() config.PAM { return cfg }
	f.srv.StartApproval = func(_ context.Context, r mfaauth.ChatRequest) (approval.Record, error) {
		if f.down {
			return approval.Record{}, errors.New("channel down")
		}
		f.started = append(f.started, r)
		id := "appr" + string(rune('0'+len(f.started)))
		rec := approval.Record{ID: id, Label: "ABCDEF", Expires: now.Add(30e9), State: approval.Pending}
		rec.Account = r.Account
		f.recs[id] = rec
		return rec, nil
	}
	f.srv.GetApproval = func(_ context.Context, id string) (approval.Record, error) {
		rec, ok := f.recs[id]
		if !ok {
			return rec, approval.ErrNotFound
		}
		return rec, nil
	}
	return f
}

func (f *approvalFixture) decide(id string, st approval.State, by string) {
	rec := f.recs[id]
	rec.State, rec.DecidedBy = st, approval.Approver{Account: by, Via: "link"}
	f.recs[id] = rec
}

// The approval factor: start posts a request bound to the server, person, user, service and
// command; verify answers "pending" (no audit) until a colleague decides; approved allows once,
// audited with the approver; denied, expired, undelivered, a challenge of another command,
// user or person, and a replayed challenge refuse.
func TestServerApproval(t *testing.T) {
	f := newApprovalFixture(t)
	tk := f.ticket(t, "alice", "id-alice", "10.0.0.5")
	req := Request{Ticket: tk, Service: "sudo", User: "ubuntu", Program: "sudo", Command: "sudo -S systemctl restart nginx"}

	start := func(r Request) Response { return f.srv.Start(context.Background(), f.token, "10.0.0.5", r, nil) }
	verify := func(r Request) Response { return f.srv.Verify(context.Background(), f.token, "10.0.0.5", r, nil) }

	st := start(req)
	if st.Allow || !st.Pending || st.Factor != "approval" || st.Challenge == "" || !strings.Contains(st.Message, "waiting for approval of session ABCDEF") {
		t.Fatalf("start: %+v", st)
	}
	if len(f.started) != 1 || f.started[0].Account != "alice" || f.started[0].Target != "ubuntu@web1" || f.started[0].Stage != "pam" {
		t.Fatalf("approval request: %+v", f.started)
	}
	req.Challenge = st.Challenge
	events := len(f.events)
	if r := verify(req); r.Allow || !r.Pending {
		t.Fatalf("undecided: %+v", r)
	}
	if len(f.events) != events {
		t.Fatal("a pending answer was audited")
	}
	// The same challenge for another command, user or service: refused, without using it up
	// (the real request still gets its answer).
	for _, other := range []func(r *Request){
		func(r *Request) { r.Command = "sudo -S rm -rf /" },
		func(r *Request) { r.User = "root" },
		func(r *Request) { r.Service = "login" },
		func(r *Request) { r.Challenge = "0000" },
	} {
		r := req
		other(&r)
		if resp := verify(r); resp.Allow || resp.Pending || !strings.Contains(resp.Message, "no such approval request") {
			t.Fatalf("mismatched challenge %+v: %+v", r, resp)
		}
	}
	f.decide("appr1", approval.Approved, "bob")
	r := verify(req)
	if !r.Allow {
		t.Fatalf("approved: %+v", r)
	}
	ev := f.events[len(f.events)-1]
	if ev["comment"] != "sudo on web1 by alice as ubuntu: approved by bob" || ev["approver"] != "bob" || ev["factor"] != "approval" {
		t.Fatalf("audit: %v", ev)
	}
	// The line keeps the shape it had as free-form fields: The Bastion's names at the top, the
	// rest (even empty) in extra.
	line, err := json.Marshal(f.raw[len(f.raw)-1].Fields)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"uniqid":"sess-1","account":"alice","allowed":true,"user":"ubuntu","ip_to":"10.0.0.5","host_to":"web1",` +
		`"params":["sudo -S systemctl restart nginx"],"factor":"approval","result":"ok",` +
		`"comment":"sudo on web1 by alice as ubuntu: approved by bob","extra":{"approver":"bob","program":"sudo",` +
		`"reason":"approved by bob","service":"sudo","target_user":"ubuntu"}}`; string(line) != want {
		t.Fatalf("audit line fields:\n%s\nwant\n%s", line, want)
	}
	if r := verify(req); r.Allow || r.Pending {
		t.Fatalf("replayed approval: %+v", r)
	}

	for _, c := range []struct {
		name   string
		decide func(id string)
		want   string
	}{
		{"denied", func(id string) { f.decide(id, approval.Denied, "bob") }, "refused: denied by bob"},
		{"expired", func(id string) { f.decide(id, approval.Expired, "") }, "refused: approval expired"},
		{"past deadline", func(id string) {
			rec := f.recs[id]
			rec.Expires = now
			f.recs[id] = rec
		}, "refused: approval expired"},
		{"approved without an approver", func(id string) { f.decide(id, approval.Approved, "") }, "approval without an approver"},
	} {
		r := req
		st := start(r)
		r.Challenge = st.Challenge
		c.decide("appr" + string(rune('0'+len(f.started))))
		if resp := verify(r); resp.Allow || resp.Pending {
			t.Fatalf("%s: %+v", c.name, resp)
		}
		if got := f.events[len(f.events)-1]["comment"].(string); !strings.Contains(got, c.want) {
			t.Fatalf("%s: audit %q, want %q", c.name, got, c.want)
		}
	}

	// Another person's challenge (bob's request, alice's ticket) is not alice's.
	f.accts["bob"] = store.Account{ID: "id-bob", Name: "bob"}
	bobReq := req
	bobReq.Ticket = f.ticket(t, "bob", "id-bob", "10.0.0.5")
	bobStart := start(bobReq)
	f.decide("appr"+string(rune('0'+len(f.started))), approval.Approved, "carol")
	stolen := req
	stolen.Challenge = bobStart.Challenge
	if resp := verify(stolen); resp.Allow || !strings.Contains(resp.Message, "no such approval request") {
		t.Fatalf("bob's approval used by alice: %+v", resp)
	}

	// The channel is down: refused at start, before any wait.
	f.down = true
	if st := start(req); st.Allow || st.Pending || !strings.Contains(st.Message, "approval not delivered") {
		t.Fatalf("undelivered: %+v", st)
	}
	// No approval machinery at all: refused.
	f.srv.StartApproval, f.srv.GetApproval = nil, nil
	if st := start(req); st.Allow || st.Pending {
		t.Fatalf("no machinery: %+v", st)
	}
}

// A challenge without a code on a TOTP server is a bad request, not a wrong try.
func TestVerifyWithoutCodeOnTOTPServer(t *testing.T) {
	f := newFixture(t)
	r := f.srv.Verify(context.Background(), f.token, "10.0.0.5", Request{Ticket: f.ticket(t, "alice", "id-alice", "10.0.0.5"),
		Challenge: "x", Service: "sudo", User: "ubuntu"}, nil)
	if r.Allow || f.checked != 0 || !strings.Contains(r.Message, "no code") {
		t.Fatalf("%+v, checked %d", r, f.checked)
	}
}
