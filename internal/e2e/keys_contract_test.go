package e2e

import (
	"fmt"
	"strings"
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

// The ingress key JSON of selfAddIngressKey, selfListIngressKeys and accountListIngressKeys has
// The Bastion's family, base64 and prefix (the from="…" that ingressKeysFrom put before the key).
func TestIngressKeyFamilyAndPrefix(t *testing.T) {
	b := testenv.Start(t, testenv.Options{Config: "ingressKeysFrom = [\"127.0.0.1\", \"192.0.2.0/24\"]\n"})
	key := b.CreateAccount("ivy")
	_, pub := testenv.NewKey(t, "ecdsa", "ivy2")
	r := b.SSH(key, "ivy", "--json-greppable", "--osh", "selfAddIngressKey", "--public-key", fmt.Sprintf("%q", pub))
	if r.Code() != "OK" {
		t.Fatalf("selfAddIngressKey: %s", r.Stdout)
	}
	added := r.JSON()["value"].(map[string]any)["key"].(map[string]any)
	b64 := strings.Fields(pub)[1]
	if added["family"] != "ECDSA" || added["base64"] != b64 || added["prefix"] != `from="127.0.0.1,192.0.2.0/24"` {
		t.Fatalf("added key: %v", added)
	}
	lists := []any{
		b.SSH(key, "ivy", "--json-greppable", "--osh", "selfListIngressKeys").JSON()["value"],
		adminJSON(t, b, 0, "OK", "accountListIngressKeys", "--account", "ivy").JSON()["value"],
	}
	for _, v := range lists {
		families := map[any]bool{}
		for _, k := range v.(map[string]any)["keys"].([]any) {
			k := k.(map[string]any)
			families[k["family"]] = true
			if !strings.HasPrefix(k["prefix"].(string), `from="127.0.0.1`) || k["base64"] == "" {
				t.Fatalf("listed key: %v", k)
			}
		}
		if !families["ECDSA"] || len(families) != 2 {
			t.Fatalf("families: %v", v)
		}
	}
}

// selfForgetHostKey as The Bastion's: an account that never recorded a host key has nothing to
// forget (OK_NO_CHANGE, value null, as there without a known_hosts file); one that has answers OK
// with OK_NO_MATCH or OK_DELETED for the host looked for.
func TestForgetHostKeyNothingToForget(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	sshd, aliceKey := targetSetup(t, b)
	port := fmt.Sprint(sshd.Port)
	forget := func(code, hp, action string, args ...string) {
		t.Helper()
		r := b.SSH(aliceKey, "alice", append([]string{"--json-greppable", "--osh", "selfForgetHostKey", "--host", "127.0.0.1"}, args...)...)
		if r.Exit != 0 || r.Code() != code {
			t.Fatalf("%v: exit %d code %q, want %q\n%s", args, r.Exit, r.Code(), code, r.Stdout)
		}
		v := r.JSON()["value"]
		if action == "" {
			if v != nil {
				t.Fatalf("%v: value %v, want null", args, v)
			}
			return
		}
		if got := v.(map[string]any)[hp].(map[string]any)["action"]; got != action {
			t.Fatalf("%v: %v, want %s under %s", args, v, action, hp)
		}
	}
	forget("OK_NO_CHANGE", "", "", "--port", port)
	if r := b.SSH(aliceKey, "alice", sshd.User+"@127.0.0.1", "-p", port, "true"); r.Exit != 0 {
		t.Fatalf("first connection: %d %s", r.Exit, r.Stderr)
	}
	forget("OK", "[127.0.0.1]:1234", "OK_NO_MATCH", "--port", "1234")
	forget("OK", "127.0.0.1", "OK_NO_MATCH")
	forget("OK", "[127.0.0.1]:"+port, "OK_DELETED", "--port", port)
}
