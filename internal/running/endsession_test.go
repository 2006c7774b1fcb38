package running

import "testing"

// TestEndSession ends one session by its id: the other sessions of the account and the other
// accounts' go on; an unknown id, another account's id or an empty id ends nothing; a second
// call does not end it twice.
func TestEndSession(t *testing.T) {
	r := New()
	ended := map[string]int{}
	add := func(account, session string) func() {
		return r.Add(account, session, func(reason string, exit int, _ bool) { ended[session]++ })
	}
	add("a", "s1")
	add("a", "s2")
	add("b", "s3")
	removeS4 := add("b", "s4")
	for _, c := range []struct {
		account, session string
		want             bool
	}{
		{"a", "s1", true}, {"a", "s1", true}, {"a", "s3", false}, {"b", "nope", false},
		{"", "s1", false}, {"a", "", false}, {"b", "s3", true},
	} {
		if got := r.EndSession(c.account, c.session, "why", 100); got != c.want {
			t.Errorf("EndSession(%q, %q) = %v, want %v", c.account, c.session, got, c.want)
		}
	}
	removeS4()
	if r.EndSession("b", "s4", "why", 100) {
		t.Error("a removed session was ended")
	}
	if ended["s1"] != 1 || ended["s2"] != 0 || ended["s3"] != 1 || ended["s4"] != 0 {
		t.Fatalf("ended %v", ended)
	}
}

// TestEndScope: End tells each end that everything of the account ends (the ingress may then
// cut a client's connection that does not read); EndSession tells its end that it ends alone
// (the client's connection may carry the account's other sessions).
func TestEndScope(t *testing.T) {
	r := New()
	wide := map[string]bool{}
	for _, id := range []string{"s1", "s2"} {
		r.Add("a", id, func(_ string, _ int, accountWide bool) { wide[id] = accountWide })
	}
	if !r.EndSession("a", "s1", "why", 100) {
		t.Fatal("s1 was not ended")
	}
	if got, ok := wide["s1"]; !ok || got {
		t.Fatalf("EndSession's end: called %v, account-wide %v; want called, not account-wide", ok, got)
	}
	r.End("a", "frozen", 101)
	if got, ok := wide["s2"]; !ok || !got {
		t.Fatalf("End's end: called %v, account-wide %v; want called, account-wide", ok, got)
	}
}
