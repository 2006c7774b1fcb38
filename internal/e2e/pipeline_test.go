package e2e

import (
	"testing"

	"gatehouse/internal/testenv"
)

// TestFrozenAccountOneGate: a frozen account is refused by the one account gate with The
// Bastion's KO_ACCOUNT_FROZEN and 131, the same whether it asks for a command or a server
// (today's main said KO_FROZEN from the dispatcher and KO_ACCOUNT_FROZEN from the decision).
func TestFrozenAccountOneGate(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	key := b.CreateAccount("frank")
	b.MustOK("--osh", "accountFreeze", "--account", "frank", "--reason", "audit")
	for _, words := range [][]string{
		{"--json-greppable", "--osh", "info"},
		{"--json-greppable", "root@127.0.0.1"},
		{"--json-greppable", "-i"},
	} {
		r := b.SSH(key, "frank", words...)
		j := r.JSON()
		if r.Exit != 131 || r.Code() != "KO_ACCOUNT_FROZEN" || j["command"] != nil ||
			j["error_message"] != "Sorry frank, your account is frozen (audit)." {
			t.Errorf("%v: exit %d %v", words, r.Exit, j)
		}
	}
}
