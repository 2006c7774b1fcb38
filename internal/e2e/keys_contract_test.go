package e2e

import (
	"testing"

	"gatehouse/internal/testenv"
)

// selfListEgressKeys and accountListEgressKeys answer The Bastion's value: an object keyed by
// fingerprint, each key with its family and the from="…" prefix to paste before it.
func TestEgressKeysKeyedByFingerprint(t *testing.T) {
	b := testenv.Start(t, testenv.Options{Config: "egressKeysFrom = [\"192.0.2.10\"]\n"})
	key := b.CreateAccount("kim")
	if r := b.SSH(key, "kim", "--json-greppable", "--osh", "selfGenerateEgressKey", "--algo", "ecdsa", "--size", "256"); r.Code() != "OK" {
		t.Fatalf("selfGenerateEgressKey: %s", r.Stdout)
	}
	self := egressKeyList(t, b.SSH(key, "kim", "--json-greppable", "--osh", "selfListEgressKeys").JSON()["value"])
	other := egressKeyList(t, adminJSON(t, b, 0, "OK", "accountListEgressKeys", "--account", "kim").JSON()["value"])
	for _, keys := range [][]map[string]any{self, other} {
		if len(keys) != 2 {
			t.Fatalf("want 2 keys, got %v", keys)
		}
		families := map[any]bool{}
		for _, k := range keys {
			families[k["family"]] = true
			if k["prefix"] != `from="192.0.2.10"` {
				t.Fatalf("prefix: %v", k)
			}
		}
		if !families["ED25519"] || !families["ECDSA"] {
			t.Fatalf("families: %v", keys)
		}
	}
}
