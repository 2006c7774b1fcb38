package running

import "testing"

// TestEndSession ends one session by its id: the other sessions of the account and the other
// accounts' go on; an unknown id, another account's id or an empty id ends nothing; a second
// call does not end it twice.
func TestEndSession(t *testing.T) {
	r := New()
	ended := map[string]int{}
	add := func(account, session string) func() {
		return r.Add(account, session, func(reason string, exit int) { ended[session]++ })
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
