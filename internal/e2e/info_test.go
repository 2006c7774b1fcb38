package e2e

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"gatehouse/internal/testenv"
)

// TestInfoBastionLabels: info prints The Bastion's alias line (alias BASTIONNAME='…', with the
// real host and port, and its HOSTNAME placeholder) and, to auditors and admins, "My admins
// are:" and "My super owners are:" with adminAccounts / superOwnerAccounts in JSON; others do not
// see the lists.
func TestInfoBastionLabels(t *testing.T) {
	b := testenv.Start(t, testenv.Options{Config: "bastionName = \"bastion1\"\n"})
	aliceKey := b.CreateAccount("alice")
	bobKey := b.CreateAccount("bob")
	carolKey := b.CreateAccount("carol")
	b.MustOK("--osh", "accountGrantCommand", "--account", "alice", "--command", "superowner")
	b.MustOK("--osh", "accountGrantCommand", "--account", "bob", "--command", "auditor")
	_ = aliceKey

	r := b.SSH(bobKey, "bob", "--json-greppable", "--osh", "info")
	v, _ := r.JSON()["value"].(map[string]any)
	alias := fmt.Sprintf("ssh bob@%s -p %s -t --", b.Host, b.Port)
	for _, want := range []string{"You are a bastion auditor!", "Your alias to connect to this bastion is:",
		"alias bastion1='" + alias + "'", "My admins are: admin", "My super owners are: alice"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("auditor's info lacks %q:\n%s", want, r.Stdout)
		}
	}
	if v["bastion_alias_command"] != alias || fmt.Sprint(v["adminAccounts"]) != "[admin]" || fmt.Sprint(v["superOwnerAccounts"]) != "[alice]" {
		t.Errorf("auditor's info value: %v", v)
	}
	r = b.SSH(carolKey, "carol", "--json-greppable", "--osh", "info")
	v, _ = r.JSON()["value"].(map[string]any)
	if strings.Contains(r.Stdout, "My admins are") || v["adminAccounts"] != nil || v["superOwnerAccounts"] != nil {
		t.Errorf("a plain account sees the admin lists:\n%s", r.Stdout)
	}
	r = b.MustOK("--osh", "info")
	if !strings.Contains(r.Stdout, "Woosh, you are even a bastion admin!") || !strings.Contains(r.Stdout, "Look at you, you are a bastion superowner!") {
		t.Errorf("admin's role lines:\n%s", r.Stdout)
	}

	// The Bastion's own default bastionCommand, copied from a bastion.conf, keeps working.
	b2 := testenv.Start(t, testenv.Options{Config: "bastionCommand = \"ssh USER@HOSTNAME -t --\"\n"})
	host, _ := os.Hostname()
	if r := b2.MustOK("--osh", "info"); !strings.Contains(r.Stdout, "alias gatehouse='ssh admin@"+host+" -t --'") {
		t.Errorf("HOSTNAME placeholder:\n%s", r.Stdout)
	}
}
