package running

import (
	"slices"
	"sync"
	"testing"
)

func TestEndOnlyThatIdentity(t *testing.T) {
	r := New()
	var mu sync.Mutex
	ended := map[string]string{}
	add := func(acct, id string) func() {
		return r.Add(acct, id, func(why string, _ int, _ bool) { mu.Lock(); ended[id] = why; mu.Unlock() })
	}
	add("id-old-bob", "s1")
	add("id-old-bob", "s2")
	add("id-new-bob", "s3") // a namesake: another identity
	removeAlice := add("id-alice", "s4")
	removeAlice()
	if n := r.Count(); n != 3 {
		t.Fatalf("count %d, want 3", n)
	}
	got := r.End("id-old-bob", "frozen", 131)
	slices.Sort(got)
	if !slices.Equal(got, []string{"s1", "s2"}) || ended["s1"] != "frozen" || ended["s2"] != "frozen" {
		t.Fatalf("ended %v, %v", got, ended)
	}
	if _, ok := ended["s3"]; ok {
		t.Fatal("the namesake's session was ended")
	}
	// End is idempotent per session: a second freeze does not call end again.
	ended = map[string]string{}
	r.End("id-old-bob", "deleted", 131)
	if len(ended) != 0 {
		t.Fatalf("end called twice: %v", ended)
	}
	if got := r.End("", "x", 131); got != nil {
		t.Fatalf("the empty id ended %v", got)
	}
	if got := r.End("id-alice", "x", 131); len(got) != 0 {
		t.Fatalf("a removed session was ended: %v", got)
	}
}

func TestConcurrentAddEnd(t *testing.T) {
	r := New()
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			remove := r.Add("a", "s", func(string, int, bool) {})
			if i%2 == 0 {
				r.End("a", "x", 131)
			}
			remove()
		}()
	}
	wg.Wait()
	if r.Count() != 0 {
		t.Fatalf("count %d after every session ended", r.Count())
	}
}
