package accessdb

import (
	"context"
	"testing"

	"gatehouse/internal/store"
)

type countingStore struct {
	lists map[string]int
}

func (c *countingStore) ListEgressKeys(_ context.Context, kind, owner string) ([]store.EgressKey, error) {
	c.lists[kind+"/"+owner]++
	id := int64(len(c.lists))
	return []store.EgressKey{{ID: id, OwnerKind: kind, Owner: owner, Type: "ssh-ed25519", Fingerprint: "SHA256:" + owner}}, nil
}
func (c *countingStore) ListACL(context.Context, string, string, string) ([]store.ACLEntry, error) {
	return nil, nil
}
func (c *countingStore) GroupsOf(context.Context, string) ([]store.Group, error) {
	return []store.Group{{Name: "web"}, {Name: "db"}}, nil
}
func (c *countingStore) ListGroups(context.Context) ([]store.Group, error) { return nil, nil }

// TestLoadListsEachKeyOnce: the decision's inputs carry the stored keys by the ids the decision
// names, so that the relay never lists them again.
func TestLoadListsEachKeyOnce(t *testing.T) {
	st := &countingStore{lists: map[string]int{}}
	in, err := Load(context.Background(), st, store.Account{Name: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	for owner, n := range st.lists {
		if n != 1 {
			t.Errorf("%s listed %d times", owner, n)
		}
	}
	if len(st.lists) != 3 || len(in.Keys) != 3 {
		t.Fatalf("listed %v, keys %v", st.lists, in.Keys)
	}
	ids := []string{in.Account.EgressKeys[0].ID, in.Groups[0].EgressKeys[0].ID, in.Groups[1].EgressKeys[0].ID}
	for _, id := range ids {
		if _, ok := in.Keys[id]; !ok {
			t.Errorf("key %s of the decision is not among the loaded keys %v", id, in.Keys)
		}
	}
}
