package policy

import (
	"fmt"
	"testing"
	"time"
)

// The clock and validity of the decision tables: proofs are fresh (well inside validity) or
// expired (exactly at its end, which no longer counts).
var (
	t0       = time.Date(2023, 8, 3, 12, 20, 8, 0, time.UTC)
	validity = 900 * time.Second
)

// fresh returns a proof of each factor made a minute before t0.
func fresh(fs ...Factor) []Proof {
	out := make([]Proof, 0, len(fs))
	for _, f := range fs {
		out = append(out, Proof{Factor: f, At: t0.Add(-time.Minute)})
	}
	return out
}

// expired returns a proof of each factor made exactly validity before t0.
func expired(fs ...Factor) []Proof {
	out := make([]Proof, 0, len(fs))
	for _, f := range fs {
		out = append(out, Proof{Factor: f, At: t0.Add(-validity)})
	}
	return out
}

// The three bypasses of issue 9, as rows; each failed before Decide replaced the single
// "proactive" boolean by per-factor proofs.
func TestDecideIssue9Bypasses(t *testing.T) {
	human := Account{Name: "alice", Configured: Password | TOTP}
	jitPw := Account{Name: "alice", Configured: Password, PasswordRequired: FlagYes}
	jitWebhook := Account{Name: "alice", Configured: Password, WebhookRequired: FlagYes}
	tests := []struct {
		name string
		g    Global
		in   JITInput
		ask  Factors
		skip Skip
	}{
		{"1: --proactive-mfa's password and TOTP do not stand in for a group's approval", enabled,
			JITInput{Action: ActionHost, Account: human, Groups: []Requirement{RequireApproval}, Proven: fresh(Password, TOTP), Now: t0, Validity: validity},
			Approval, SkipNone},
		{"1: … nor for a group's webhook code", enabled,
			JITInput{Action: ActionHost, Account: human, Groups: []Requirement{RequireWebhook}, Proven: fresh(Password, TOTP), Now: t0, Validity: validity},
			Webhook, SkipNone},
		{"1: … nor for a command's approval", enabled,
			JITInput{Action: ActionPlugin, Account: human, Command: Command{Name: "groupList", MFARequired: RequireApproval}, Proven: fresh(Password, TOTP), Now: t0, Validity: validity},
			Approval, SkipNone},
		{"1: an approval is never proven in advance", enabled,
			JITInput{Action: ActionHost, Account: human, Groups: []Requirement{RequireApproval}, Proven: fresh(Approval, Password, TOTP, Webhook), Now: t0, Validity: validity},
			Approval, SkipNone},
		{"2: JIT mode, account's own password yes and a group's approval, nothing proven: both", jitMode,
			JITInput{Action: ActionHost, Account: jitPw, Groups: []Requirement{RequireApproval}, Now: t0, Validity: validity},
			Password | Approval, SkipNone},
		{"2: JIT mode, password proven proactively: the approval is still asked", jitMode,
			JITInput{Action: ActionHost, Account: jitPw, Groups: []Requirement{RequireApproval}, Proven: fresh(Password), Now: t0, Validity: validity},
			Approval, SkipNone},
		{"2: JIT mode, proactive disabled (no validity): the password is asked again too", jitMode,
			JITInput{Action: ActionHost, Account: jitPw, Groups: []Requirement{RequireWebhook}, Proven: fresh(Password), Now: t0},
			Password | Webhook, SkipNone},
		{"3: account webhook yes and a group's password: both asked", jitMode,
			JITInput{Action: ActionHost, Account: jitWebhook, Groups: []Requirement{RequirePassword}, Now: t0, Validity: validity},
			Password | Webhook, SkipNone},
		{"3: a webhook code proven does not stand in for the group's password", jitMode,
			JITInput{Action: ActionHost, Account: jitWebhook, Groups: []Requirement{RequirePassword}, Proven: fresh(Webhook), Now: t0, Validity: validity},
			Password, SkipNone},
		{"3: a group's TOTP: TOTP asked with the code", jitMode,
			JITInput{Action: ActionHost, Account: Account{Name: "alice", Configured: TOTP, WebhookRequired: FlagYes}, Groups: []Requirement{RequireTOTP}, Now: t0, Validity: validity},
			TOTP | Webhook, SkipNone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, r := Decide(tt.g, tt.in)
			if r != nil {
				t.Fatalf("refused: %+v", r)
			}
			if d.Ask != tt.ask || d.Skip != tt.skip {
				t.Fatalf("ask %v skip %q, want ask %v skip %q", d.Ask, d.Skip, tt.ask, tt.skip)
			}
		})
	}
}

// TestDecideTable generates every combination of account flags × configured factors × command
// requirement × group requirements × personal access × mode × proven factors, and checks the
// rules of Decide as invariants on each, plus the relations between neighbouring combinations
// (expired proofs count for nothing, an approval proof changes nothing, a further requirement
// never asks less, batch refuses exactly what would be asked).
func TestDecideTable(t *testing.T) {
	flags := []Flag{FlagNo, FlagYes, FlagBypass}
	configured := []Factors{0, Password, TOTP, Password | TOTP}
	type action struct {
		a   Action
		cmd Command
	}
	actions := []action{{a: ActionHost}}
	for _, r := range []Requirement{"", RequirePassword, RequireTOTP, RequireAny, RequireWebhook, RequireApproval, RequireAnyIfConfigured} {
		actions = append(actions, action{ActionPlugin, Command{Name: "cmd", MFARequired: r}})
	}
	actions = append(actions, action{ActionPlugin, Command{Name: "selfMFASetupTOTP", MFARequired: RequireAnyIfConfigured, SetupNotRequired: true}})
	groups := [][]Requirement{nil, {RequirePassword}, {RequireTOTP}, {RequireAny}, {RequireWebhook}, {RequireApproval},
		{RequireNone, RequireApproval}, {RequireTOTP, RequireWebhook}}
	personal := []Requirement{"", RequireApproval, RequirePassword}
	modes := []Global{enabled, jitMode}

	n := 0
	for f := range Factors(16) {
		freshOf[f] = fresh(f.List()...)
		neighbours[f] = append(append(expired(f.List()...), expired(Password, TOTP, Webhook, Approval)...), freshOf[f]...)
		withApproval[f] = append(fresh(Approval), freshOf[f]...)
	}
	for _, pf := range flags {
		for _, tf := range flags {
			for _, wf := range flags {
				for _, af := range flags {
					for _, conf := range configured {
						acct := Account{Name: "alice", PasswordRequired: pf, TOTPRequired: tf, WebhookRequired: wf, ApprovalRequired: af, Configured: conf}
						for _, act := range actions {
							for _, gs := range groups {
								for _, per := range personal {
									for _, g := range modes {
										for proven := Factors(0); proven < 16; proven++ {
											a := acct
											a.PersonalEgressMFA = per
											in := JITInput{Action: act.a, Account: a, Command: act.cmd, Groups: gs, Personal: per != "",
												Proven: freshOf[proven], Now: t0, Validity: validity}
											if msg := checkDecide(g, in, proven); msg != "" {
												t.Fatalf("%s\nmode %v, input %+v, proven %v", msg, g.Mode, in, proven)
											}
											n++
										}
									}
								}
							}
						}
					}
				}
			}
		}
	}
	t.Logf("%d combinations", n)
}

// Proofs of each subset of factors, made once: fresh, with expired ones around, with an approval.
var freshOf, neighbours, withApproval [16][]Proof

// need recomputes, independently of Decide, what in requires: the union of every source.
func need(g Global, in JITInput) Need {
	var n Need
	add := func(r Requirement) {
		switch r {
		case RequirePassword:
			n.All |= Password
		case RequireTOTP:
			n.All |= TOTP
		case RequireWebhook:
			n.All |= Webhook
		case RequireApproval:
			n.All |= Approval
		case RequireAny:
			n.Any = true
		case RequireAnyIfConfigured:
			if in.Account.Configured != 0 {
				n.Any = true
			}
		}
	}
	if in.Action == ActionPlugin {
		add(in.Command.MFARequired)
	}
	for _, r := range in.Groups {
		add(r)
	}
	if in.Personal {
		add(in.Account.PersonalEgressMFA)
	}
	if g.Mode == ModeJIT && !in.Command.SetupNotRequired {
		for _, f := range AllFactors {
			if !bypassed(in.Account, f) && flagOf(in.Account, f) == FlagYes {
				n.All |= f
			}
		}
	}
	return n
}

func flagOf(a Account, f Factor) Flag {
	switch f {
	case Password:
		return a.PasswordRequired
	case TOTP:
		return a.TOTPRequired
	case Webhook:
		return a.WebhookRequired
	}
	return a.ApprovalRequired
}

func bypassed(a Account, f Factor) bool { return flagOf(a, f) == FlagBypass }

// checkDecide returns what is wrong with Decide(g, in), or "".
func checkDecide(g Global, in JITInput, proven Factors) string {
	d, r := Decide(g, in)
	a := in.Account
	n := need(g, in)
	valid := proven &^ Approval
	conf := a.Configured

	if d.Need != n {
		return fmt.Sprintf("need %+v, want the union %+v", d.Need, n)
	}
	if !n.Required() {
		if r != nil || d.Ask != 0 || d.Skip != SkipNone {
			return fmt.Sprintf("nothing required, yet ask %v skip %q refusal %+v", d.Ask, d.Skip, r)
		}
		return ""
	}
	// Refusals: a required password/TOTP that is neither configured nor bypassed.
	for _, f := range []Factor{Password, TOTP} {
		if n.All.Has(f) && !conf.Has(f) && !bypassed(a, f) {
			if r == nil || r.Exit < 122 || r.Exit > 124 {
				return fmt.Sprintf("%v required, not configured, not bypassed: refusal %+v", f, r)
			}
			return ""
		}
	}
	if n.Any && conf == 0 && !bypassed(a, Password) && !bypassed(a, TOTP) {
		if r == nil || r.Exit != ExitMFAAnySetupRequired {
			return fmt.Sprintf("any required, nothing configured: refusal %+v", r)
		}
		return ""
	}
	if r != nil {
		return fmt.Sprintf("unexpected refusal %+v (ask %v)", r, d.Ask)
	}

	ask := d.Ask
	// Every required factor is asked unless met by a proof of itself, or bypassed.
	if n.All.Has(Approval) && !bypassed(a, Approval) && !ask.Has(Approval) {
		return "approval required but not asked"
	}
	if n.All.Has(Webhook) && !bypassed(a, Webhook) && ask.Has(Webhook) == valid.Has(Webhook) {
		return fmt.Sprintf("webhook required: asked %v with a webhook proof %v", ask.Has(Webhook), valid.Has(Webhook))
	}
	for _, f := range []Factor{Password, TOTP} {
		if n.All.Has(f) && conf.Has(f) && ask.Has(f) == valid.Has(f) {
			return fmt.Sprintf("%v required and configured: asked %v with a proof %v", f, ask.Has(f), valid.Has(f))
		}
	}
	if n.Any && conf != 0 && conf&valid == 0 && ask&conf == 0 {
		return "any required, nothing proven, nothing asked"
	}
	// Nothing is asked that is not required, configured, or already proven.
	if ask&valid != 0 {
		return fmt.Sprintf("asks %v, already proven", ask&valid)
	}
	if ask&(Password|TOTP)&^conf != 0 {
		return "asks a factor that is not configured"
	}
	if ask&ChatFactors&^n.All != 0 {
		return "asks a chat factor nobody requires"
	}
	if ask&(Password|TOTP) != 0 && !n.Any && n.All&(Password|TOTP) == 0 {
		return "asks a password/TOTP for a chat requirement alone"
	}
	switch d.Skip {
	case SkipBypass, SkipProactive:
		if ask != 0 {
			return fmt.Sprintf("skip %q but asks %v", d.Skip, ask)
		}
	}
	if ask == 0 && d.Skip == SkipNone {
		return "required, nothing asked, no skip"
	}
	if d.Skip == SkipProactive && d.Satisfied == 0 {
		return "skipped as proactive without a proof"
	}

	// Relations with neighbouring inputs.
	same := func(o JITInput, what string) string {
		d2, r2 := Decide(g, o)
		if d2 != d || (r2 == nil) != (r == nil) {
			return fmt.Sprintf("%s changed the decision: %+v, then %+v %+v", what, d, d2, r2)
		}
		return ""
	}
	o := in
	o.Proven = neighbours[proven]
	if msg := same(o, "expired proofs"); msg != "" {
		return msg
	}
	o = in
	o.Proven = withApproval[proven]
	if msg := same(o, "an approval proof"); msg != "" {
		return msg
	}
	if g.Mode == ModeImmediate {
		o = in
		for _, f := range []*Flag{&o.Account.PasswordRequired, &o.Account.TOTPRequired, &o.Account.WebhookRequired, &o.Account.ApprovalRequired} {
			if *f == FlagYes {
				*f = FlagNo
			}
		}
		if msg := same(o, "immediate mode: the account's yes flags (asked at login)"); msg != "" {
			return msg
		}
	}
	for _, extra := range []Requirement{RequirePassword, RequireTOTP, RequireAny, RequireWebhook, RequireApproval} {
		o = in
		o.Groups = append([]Requirement{extra}, in.Groups...)
		if d2, r2 := Decide(g, o); r2 == nil && d2.Ask&ask != ask {
			return fmt.Sprintf("a further %s group asks less: %v, then %v", extra, ask, d2.Ask)
		}
	}
	o = in
	o.Batch = true
	d2, r2 := Decide(g, o)
	if ask != 0 && (r2 == nil || r2.Exit != ExitMFAFailed || d2.Ask != 0) {
		return fmt.Sprintf("batch with %v to ask: %+v %+v", ask, d2, r2)
	}
	if ask == 0 && (r2 != nil || d2 != d) {
		return fmt.Sprintf("batch with nothing to ask: %+v %+v", d2, r2)
	}
	return ""
}

// Login and proactive MFA go through Decide too.
func TestDecideLoginAndProactive(t *testing.T) {
	for _, a := range []Account{{Configured: Password | TOTP}, {Configured: TOTP, WebhookRequired: FlagYes}, {ApprovalRequired: FlagYes}, {PAMAuthBypass: true, Configured: Password}} {
		for _, g := range []Global{enabled, jitMode} {
			d, r := Decide(g, JITInput{Action: ActionLogin, Account: a})
			if r != nil || d.Ask != ImmediateFactors(g, a).Factors {
				t.Errorf("login %+v %v: %v %v", a, g.Mode, d.Ask, r)
			}
		}
	}
	tests := []struct {
		a    Account
		ask  Factors
		exit int
	}{
		{Account{Configured: Password | TOTP, WebhookRequired: FlagYes, ApprovalRequired: FlagYes}, Password | TOTP, 0},
		{Account{Configured: TOTP}, TOTP, 0},
		{Account{}, 0, ExitMFAAnySetupRequired},
		{Account{PasswordRequired: FlagBypass}, 0, ExitMFAFailed},
		{Account{WebhookRequired: FlagYes}, 0, ExitMFAAnySetupRequired}, // a chat factor is never proven in advance
	}
	for _, tt := range tests {
		d, r := Decide(enabled, JITInput{Action: ActionProactive, Account: tt.a, Proven: fresh(Password, TOTP), Now: t0, Validity: validity})
		exit := 0
		if r != nil {
			exit = r.Exit
		}
		if d.Ask != tt.ask || exit != tt.exit {
			t.Errorf("proactive %+v: ask %v exit %d, want %v %d", tt.a, d.Ask, exit, tt.ask, tt.exit)
		}
	}
}

func TestTerminalRefusal(t *testing.T) {
	for _, ask := range []Factors{0, Password, TOTP, Webhook, Approval, Password | TOTP, TOTP | Webhook, Password | Approval} {
		for _, term := range []bool{false, true} {
			r := TerminalRefusal(ask, term)
			if want := ask.Has(Password) && !term; (r != nil) != want {
				t.Errorf("ask %v terminal %v: %+v", ask, term, r)
			}
		}
	}
}

// FuzzDecideStoredRequirement: a group's requirement comes from stored data; whatever it holds,
// only "" and "none" require nothing, and an approval named anywhere is always asked.
func FuzzDecideStoredRequirement(f *testing.F) {
	for _, s := range []string{"", "none", "password", "totp", "any", "webhook", "approval", "APPROVAL", "approval ", "any-if-configured", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, r string) {
		a := Account{Name: "alice", Configured: Password | TOTP}
		for _, g := range []Global{enabled, jitMode} {
			d, ref := Decide(g, JITInput{Action: ActionHost, Account: a, Groups: []Requirement{Requirement(r), RequireApproval},
				Proven: fresh(Password, TOTP, Webhook, Approval), Now: t0, Validity: validity})
			if ref != nil || !d.Ask.Has(Approval) {
				t.Fatalf("%q with an approval group: ask %v refusal %+v", r, d.Ask, ref)
			}
			d, _ = Decide(g, JITInput{Action: ActionHost, Account: a, Groups: []Requirement{Requirement(r)}})
			if (r == "" || r == "none") == d.Need.Required() {
				t.Fatalf("%q: need %v", r, d.Need)
			}
		}
	})
}
