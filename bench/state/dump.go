package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"gatehouse/internal/osh"
	"gatehouse/internal/store"
)

// dump builds a varied state of n accounts (bench/state's, plus grants, settings, second
// factors, frozen, expired and osh-only accounts, names, IPv6 and wide prefixes in the lists)
// and writes every listing command's JSON answer, as the admin and as a member, one line each.
// Run on two versions of gatehouse, the two files must be the same: the answers did not change
// (`-dump FILE`; the state is made the same way each time, with no random).
func dump(n int, file string) error {
	ctx := context.Background()
	a, done, err := openState(ctx, "gatehouse-state-dump-")
	if err != nil {
		return err
	}
	defer done()
	if err := build(ctx, a.Store, n); err != nil {
		return err
	}
	if err := vary(ctx, a.Store, n); err != nil {
		return err
	}
	out, err := os.Create(file)
	if err != nil {
		return err
	}
	defer out.Close()
	as := func(name string) (*osh.Session, error) {
		acct, err := a.Store.GetAccount(ctx, name)
		if err != nil {
			return nil, err
		}
		s := &osh.Session{ID: "dump", Account: acct, Roles: osh.RolesOf(acct), In: strings.NewReader(""), Out: io.Discard, Err: io.Discard}
		s.Reload = func(ctx context.Context) error { return nil }
		return s, nil
	}
	hosts := []string{"10.1.0.3", "10.0.0.1", "10.0.0.77", "10.5.0.9", "10.2.3.4", "192.168.7.7", "2001:db8::5", "srv7.example.org", "1.1.1.1"}
	var cmds [][]string
	for _, c := range []string{"info", "accountList", "accountList --audit", "accountList --inactive-only", "accountInfo --all",
		"accountInfo --all --without-groups", "accountInfo --all --with-mfa-password-info --with-egress-keys",
		"accountInfo --all --with-everything", "accountList --audit --account a5 --account a6", "accountList --audit --inactive-only",
		"groupList", "groupList --all", "groupInfo --all"} {
		cmds = append(cmds, strings.Fields(c))
	}
	for _, h := range hosts {
		cmds = append(cmds, []string{"whoHasAccessTo", "--host", h}, []string{"whoHasAccessTo", "--host", h, "--user", "root", "--port", "22"},
			[]string{"whoHasAccessTo", "--host", h, "--user", "deploy", "--port", "2222", "--show-wildcards"},
			[]string{"whoHasAccessTo", "--host", h, "--ignore-personal", "--ignore-group", "g1"})
	}
	for i := 0; i < n; i += max(n/7, 1) {
		cmds = append(cmds, []string{"accountInfo", "--account", "a" + strconv.Itoa(i)}, []string{"groupInfo", "--group", "g" + strconv.Itoa(i/10)})
	}
	for _, who := range []string{"admin", "a1", "a21", "a42", "a5"} {
		s, err := as(who)
		if err != nil {
			return err
		}
		for _, c := range cmds {
			r := a.Env.Run(ctx, s, c[0], c[1:], true)
			b, err := json.Marshal(map[string]any{"code": r.Code, "value": r.Value})
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "%s %s: %s\n", who, strings.Join(c, " "), b)
		}
	}
	return nil
}

// vary adds to build's state what the listing commands show differently.
func vary(ctx context.Context, st store.Store, n int) error {
	now := time.Now()
	for i := 0; i < n; i++ {
		name := "a" + strconv.Itoa(i)
		if i%7 == 3 || i%11 == 4 || i%13 == 5 || i%17 == 6 || i%19 == 7 || i%23 == 8 {
			err := st.UpdateAccount(ctx, name, func(a *store.Account) error {
				switch {
				case i%7 == 3:
					a.Grants = append(a.Grants, []string{"admin", "superowner", "auditor", "accountList", "whoHasAccessTo"}[i%5])
				case i%11 == 4:
					a.Frozen, a.FrozenReason = true, "bench"
				case i%13 == 5:
					a.ExpiresAt = now.Add(-time.Duration(i) * time.Hour)
				case i%17 == 6:
					a.OshOnly = true
				case i%19 == 7:
					a.AlwaysActive = true
					a.Settings["idle_ignore"] = "yes"
				case i%23 == 8:
					a.MaxInactiveDays, a.LastSeenAt = 1, now.Add(-72*time.Hour)
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		if i%31 == 10 {
			// Settings that accountInfo and accountList --audit show (egress ssh config, MFA
			// policy, key-only), one combination per account that has them.
			err := st.UpdateAccount(ctx, name, func(a *store.Account) error {
				k := i / 31
				a.Settings["egress_strict_host_key_checking"] = []string{"bypass", "yes", "accept-new", "default"}[k%4]
				a.Settings["egress_session_multiplexing"] = []string{"yes", "no", ""}[k%3]
				a.Settings["mfa_password_required"] = []string{"yes", "bypass", ""}[k%3]
				a.Settings["mfa_totp_required"] = []string{"bypass", "yes", "no"}[k%3]
				a.Settings["pam_auth_bypass"] = []string{"yes", "no"}[k%2]
				a.Settings["pubkey_auth_optional"] = []string{"no", "yes"}[k%2]
				a.Settings["personal_egress_mfa_required"] = []string{"password", "totp", "any", ""}[k%4]
				a.Comment = "comment \"é\" <" + name + ">"
				return nil
			})
			if err != nil {
				return err
			}
			if _, err := st.AddEgressKey(ctx, store.EgressKey{OwnerKind: "account", Owner: name, Type: "ssh-ed25519", Bits: 256,
				Public: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBench" + name, Fingerprint: "SHA256:bench" + name, Sealed: []byte("s"), CreatedAt: now}); err != nil {
				return err
			}
		}
		switch i % 9 {
		case 1:
			if err := st.SetMFAPassword(ctx, name, "$argon2id$bench", now, i%2 == 0); err != nil {
				return err
			}
		case 2:
			if err := st.SetMFATOTP(ctx, name, store.MFATOTP{Sealed: []byte("k"), Created: now}); err != nil {
				return err
			}
		}
		if i%29 == 9 {
			for _, h := range []string{"2001:db8::/64", "srv7.example.org", "10.0.0.0/8", "0.0.0.0/0"} {
				if _, err := st.AddACL(ctx, store.ACLEntry{Kind: store.ACLPersonal, Owner: name, Host: h, User: "deploy", AddedAt: now}); err != nil {
					return err
				}
			}
		}
	}
	groups := n / 10
	for g := 0; g < groups; g += 3 {
		gn := "g" + strconv.Itoa(g)
		for _, e := range []store.ACLEntry{{Host: "10.0.0.0/16", User: "root", Port: 22}, {Host: "srv7.example.org", Port: 2222},
			{Host: "2001:db8::/48", User: "deploy"}, {Host: "10.2.3.4", User: "r*"}, {Host: "0.0.0.0/0", User: "backup", Port: 22}} {
			e.Kind, e.Owner, e.AddedAt = store.ACLGroup, gn, now
			if g%2 == 0 {
				e.ExpiresAt = now.Add(time.Hour)
			}
			if _, err := st.AddACL(ctx, e); err != nil {
				return err
			}
		}
		if g%4 == 0 {
			if _, err := st.SetRole(ctx, gn, store.RoleAclkeeper, "a"+strconv.Itoa((g*3)%n), true); err != nil {
				return err
			}
			if _, err := st.SetRole(ctx, gn, store.RoleGatekeeper, "a"+strconv.Itoa((g*7)%n), true); err != nil {
				return err
			}
		}
		if _, err := st.AddEgressKey(ctx, store.EgressKey{OwnerKind: "group", Owner: gn, Type: "ssh-ed25519", Bits: 256,
			Public: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBench" + gn, Fingerprint: "SHA256:bench" + gn, Sealed: []byte("s"), CreatedAt: now}); err != nil {
			return err
		}
		guest := "a" + strconv.Itoa((g*13+5)%n)
		if _, err := st.AddACL(ctx, store.ACLEntry{Kind: store.ACLGuest, Owner: gn, Account: guest, Host: "srv7.example.org", Port: 2222, AddedAt: now}); err == nil {
			if _, err := st.SetRole(ctx, gn, store.RoleGuest, guest, true); err != nil {
				return err
			}
		}
	}
	return nil
}
