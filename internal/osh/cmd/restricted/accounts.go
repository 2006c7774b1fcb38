// Package restricted holds the commands an account may run only once granted them one by one
// (accountGrantCommand); admins hold them all.
package restricted

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gatehouse/internal/access"
	"gatehouse/internal/osh"
	"gatehouse/internal/osh/cmd/common"
	"gatehouse/internal/sshkey"
	"gatehouse/internal/store"
)

var accountOpt = osh.Option{Name: "account", Kind: osh.String, Help: "the account name"}

// Register adds the restricted commands to r.
func Register(r *osh.Registry) {
	r.Add(
		&osh.Command{Name: "accountCreate", Category: osh.Restricted, Summary: "create a new bastion account", ReadsStdin: true,
			Options: []osh.Option{accountOpt,
				{Name: "public-key", Kind: osh.Words, Help: "the account's first ingress key"},
				{Name: "public-key-file", Kind: osh.String, Help: "\"-\" to read the key from standard input"},
				{Name: "no-key", Kind: osh.Flag, Help: "create the account without an ingress key"},
				{Name: "comment", Kind: osh.Words, Help: "a free comment"},
				{Name: "ttl", Kind: osh.Duration, Help: "the account expires after this long (e.g. 30d)"},
				{Name: "osh-only", Kind: osh.Flag, Help: "the account may only run --osh commands, never connect"},
				{Name: "always-active", Kind: osh.Flag, Help: "never consider the account inactive"},
				{Name: "max-inactive-days", Kind: osh.Int, Help: "days without login before the account expires (-1: global, 0: never)"},
				{Name: "uid", Kind: osh.Int, Help: "accepted for compatibility with The Bastion; gatehouse has no Unix users"},
				{Name: "uid-auto", Kind: osh.Flag, Help: "accepted for compatibility"},
			}, Run: accountCreate},
		&osh.Command{Name: "accountDelete", Category: osh.Restricted, Summary: "delete an account", ReadsStdin: true,
			Options: []osh.Option{accountOpt, {Name: "no-confirm", Kind: osh.Flag, Help: "do not ask to type the account name"}}, Run: accountDelete},
		&osh.Command{Name: "accountList", Category: osh.Restricted, Summary: "list the bastion accounts",
			Options: append([]osh.Option{{Name: "account", Kind: osh.Multi, Help: "only these accounts"}, {Name: "inactive-only", Kind: osh.Flag},
				{Name: "audit", Kind: osh.Flag, Help: "more details per account (auditors only)"},
				{Name: "no-password-info", Kind: osh.Flag, Help: "with --audit, leave out the password_* keys"},
				{Name: "no-output", Kind: osh.Flag, Help: "print no line per account (use with --json)"}}, common.PatternOptions...), Run: accountList},
		&osh.Command{Name: "accountInfo", Category: osh.Restricted, Summary: "details of an account",
			Options: append([]osh.Option{accountOpt, {Name: "all", Kind: osh.Flag, Help: "every account (auditors)"},
				{Name: "with-groups", Kind: osh.Flag, Help: "include the groups the account has a role on (the default here)"},
				{Name: "without-groups", Kind: osh.Flag, Help: "leave the groups out"}}, passwordInfoOptions...), Run: accountInfo},
		&osh.Command{Name: "accountModify", Category: osh.Restricted, Summary: "modify the configuration of an account",
			Options: modifyOptions(), Run: accountModify},
		&osh.Command{Name: "accountFreeze", Category: osh.Restricted, Summary: "freeze an account: it can no longer do anything",
			Options: []osh.Option{accountOpt, {Name: "reason", Kind: osh.Words, Help: "shown to the account"}}, Run: accountFreeze},
		&osh.Command{Name: "accountUnfreeze", Category: osh.Restricted, Summary: "unfreeze an account",
			Options: []osh.Option{accountOpt}, Run: accountUnfreeze},
		&osh.Command{Name: "accountUnexpire", Category: osh.Restricted, Summary: "let an account that expired for inactivity log in again",
			Options: []osh.Option{accountOpt}, Run: accountUnexpire},
		&osh.Command{Name: "accountGrantCommand", Category: osh.Restricted, Summary: "grant a restricted command (or the auditor role) to an account",
			Options: []osh.Option{accountOpt, {Name: "command", Kind: osh.String}}, Run: grantCommand(true)},
		&osh.Command{Name: "accountRevokeCommand", Category: osh.Restricted, Summary: "revoke a restricted command (or a role) from an account",
			Options: []osh.Option{accountOpt, {Name: "command", Kind: osh.String}}, Run: grantCommand(false)},
		&osh.Command{Name: "accountListIngressKeys", Category: osh.Restricted, Summary: "the ingress keys of an account",
			Options: []osh.Option{accountOpt}, Run: accountListIngressKeys},
		&osh.Command{Name: "accountListEgressKeys", Category: osh.Restricted, Summary: "the egress keys of an account",
			Options: []osh.Option{accountOpt}, Run: accountListEgressKeys},
	)
}

// target loads the account named by --account, with the codes The Bastion gives.
func target(ctx context.Context, c *osh.Call) (store.Account, *osh.Result) {
	name := c.Args.String("account")
	if name == "" {
		r := osh.Fail("", "ERR_MISSING_PARAMETER", "Missing mandatory parameter --account")
		return store.Account{}, &r
	}
	if err := access.ValidateAccountName(name); err != nil {
		r := osh.Fail("", "ERR_INVALID_ACCOUNT", "%v", err)
		return store.Account{}, &r
	}
	a, err := c.Env.Store.GetAccount(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		r := osh.Fail("", "KO_NOT_FOUND", "Account '%s' doesn't exist", name)
		return a, &r
	}
	if err != nil {
		r := osh.Fail("", "ERR_INTERNAL", "cannot load account %s: %v", name, err)
		return a, &r
	}
	return a, nil
}

// guard applies the one rule of who may change whom (access.MayChangeAccount).
func guard(c *osh.Call, a store.Account, kind access.ChangeKind) *osh.Result {
	return common.MayChange(c, a, access.AccountChange{Kind: kind})
}

// again loads a's row anew after a wait (a confirmation, a file read on standard input) and
// applies the guard to it: the account may have been made admin, or deleted and recreated under
// the same name, meanwhile.
func again(ctx context.Context, c *osh.Call, a store.Account, kind access.ChangeKind) *osh.Result {
	now, err := c.Env.Store.GetAccount(ctx, a.Name)
	if err != nil || now.ID != a.ID {
		r := goneMeanwhile(a)
		return &r
	}
	return guard(c, now, kind)
}

// goneMeanwhile refuses a change to an account deleted (perhaps recreated) since it was loaded.
func goneMeanwhile(a store.Account) osh.Result {
	return osh.Fail("", "KO_NOT_FOUND", "Account %s was deleted meanwhile: nothing changed", a.Name)
}

// refused carries a guard's refusal out of an update transaction.
type refused struct{ r osh.Result }

func (e *refused) Error() string { return e.r.Message }

// update changes account a in one transaction, checking again inside it that the row is still a
// (not a namesake created since a was loaded) and that the change is still allowed (a grant of
// admin to the target may have landed in between). A refusal comes back as the result to return.
func update(ctx context.Context, c *osh.Call, a store.Account, ch access.AccountChange, fn func(*store.Account) error) (*osh.Result, error) {
	err := c.Env.Store.UpdateAccount(ctx, a.Name, func(x *store.Account) error {
		if x.ID != a.ID {
			return &refused{goneMeanwhile(a)}
		}
		if r := common.MayChange(c, *x, ch); r != nil {
			return &refused{*r}
		}
		return fn(x)
	})
	var ref *refused
	if errors.As(err, &ref) {
		return &ref.r, nil
	}
	return nil, err
}

func accountCreate(ctx context.Context, c *osh.Call) osh.Result {
	name := c.Args.String("account")
	if name == "" {
		return osh.Fail("", "ERR_MISSING_PARAMETER", "Missing mandatory parameter --account")
	}
	if err := access.ValidateAccountName(name); err != nil {
		return osh.Fail("", "ERR_INVALID_ACCOUNT", "%v", err)
	}
	var keys []store.IngressKey
	if c.Args.Has("no-key") {
		if c.Args.Has("public-key") || c.Args.Has("public-key-file") {
			return osh.Fail("", "ERR_INVALID_PARAMETER", "--no-key cannot be combined with --public-key or --public-key-file")
		}
	} else {
		k, err := common.KeyFromArgs(c, true)
		if err != nil {
			return common.KeyFailure(err)
		}
		keys = append(keys, ingressFrom(name, k, c.Now()))
	}
	now := c.Now().UTC()
	a := store.Account{
		Name: name, Comment: c.Args.String("comment"), CreatedAt: now, CreatedBy: c.Caller().Name,
		OshOnly: c.Args.Has("osh-only"), AlwaysActive: c.Args.Has("always-active"), MaxInactiveDays: -1,
	}
	if c.Args.Has("max-inactive-days") {
		// Bounded as accountModify's: a larger number overflowed the inactivity check.
		if a.MaxInactiveDays = c.Args.Int("max-inactive-days"); a.MaxInactiveDays < -1 || a.MaxInactiveDays > osh.MaxInactiveDays {
			return osh.Fail("", "ERR_INVALID_PARAMETER", "--max-inactive-days must be -1, 0 or more, up to %d", osh.MaxInactiveDays)
		}
	}
	if c.Args.Has("ttl") {
		ttl := c.Args.Duration("ttl")
		if ttl <= 0 {
			return osh.Fail("", "ERR_INVALID_PARAMETER", "--ttl must be positive")
		}
		a.ExpiresAt = now.Add(ttl)
	}
	err := c.Env.Store.CreateAccount(ctx, a, keys)
	if errors.Is(err, store.ErrExists) {
		return osh.Fail("", "KO_ALREADY_EXISTING", "The account %s already exists", name)
	}
	if err != nil {
		return osh.Fail("", "ERR_INTERNAL", "cannot create account %s: %v", name, err)
	}
	cfg := c.Cfg()
	ek, err := common.NewEgressKey(ctx, c, "account", name, cfg.DefaultAccountEgressKeyAlgorithm, cfg.DefaultAccountEgressKeySize)
	if err != nil {
		// The account is usable without an egress key; say so rather than undo it.
		c.P.Line("Warning: the account was created but its egress key could not be generated (%v); run selfGenerateEgressKey as %s.", err, name)
	}
	c.P.Line("Account %s successfully created.", name)
	if err == nil {
		c.P.Line("Its egress public key, to put in the authorized_keys of the servers it will reach:")
		common.EgressKeysValue(c.P, []store.EgressKey{ek}, cfg.EgressKeysFrom)
	}
	// The Bastion's accountCreate answers value null (its scripts test for it); the egress
	// key is in accountListEgressKeys.
	return osh.OK("", nil)
}

func ingressFrom(account string, k sshkey.Key, now time.Time) store.IngressKey {
	return store.IngressKey{Account: account, Line: k.Line, Type: k.Type, Fingerprint: k.Fingerprint, Comment: k.Comment, From: k.From, CreatedAt: now.UTC()}
}

func accountDelete(ctx context.Context, c *osh.Call) osh.Result {
	a, r := target(ctx, c)
	if r != nil {
		return *r
	}
	if r := guard(c, a, access.ChangeDelete); r != nil {
		return *r
	}
	if r := common.Confirm(c, "accountDelete", a.Name); r != nil {
		return *r
	}
	if r := again(ctx, c, a, access.ChangeDelete); r != nil {
		return *r
	}
	if err := c.Env.Store.DeleteAccount(ctx, a.Name); err != nil {
		return osh.Fail("", "ERR_INTERNAL", "cannot delete account %s: %v", a.Name, err)
	}
	n := common.EndSessions(ctx, c, a, "Your account has been deleted by "+c.Caller().Name, osh.ExitInactive)
	c.P.Line("Account %s deleted (%d running session(s) ended).", a.Name, n)
	return osh.OK("", map[string]any{"account": a.Name, "sessions_ended": n})
}

// listRow is accountList's value for one account without --audit (The Bastion's: the name and
// the activeness), a struct rather than a map per account (issue 14).
type listRow struct {
	IsActive int    `json:"is_active"`
	Name     string `json:"name"`
}

// listRows is accountList's value without --audit: the object name → listRow, written as
// encoding/json writes map[string]listRow, without reflection or a map of 10,000 (issue 14).
type listRows []listRow

// sorted sorts the rows by name, as encoding/json sorts a map's keys.
func (l listRows) sorted() listRows {
	slices.SortFunc(l, func(a, b listRow) int { return strings.Compare(a.Name, b.Name) })
	return l
}

// AppendJSON implements osh.JSONAppender.
func (l listRows) AppendJSON(b []byte) []byte {
	return l.StreamJSON(slices.Grow(b, 40*len(l)+2), nil)
}

// StreamJSON implements osh.JSONStreamer: AppendJSON in parts (flush nil: whole).
func (l listRows) StreamJSON(b []byte, flush func([]byte) []byte) []byte {
	b = append(b, '{')
	for i, r := range l {
		if i > 0 {
			b = append(b, ',')
		}
		b = osh.AppendJSONString(b, r.Name)
		b = strconv.AppendInt(append(b, `:{"is_active":`...), int64(r.IsActive), 10)
		b = append(osh.AppendJSONString(append(b, `,"name":`...), r.Name), '}')
		if flush != nil && len(b) >= osh.JSONStreamChunk {
			b = flush(b)
		}
	}
	return append(b, '}')
}

// MarshalJSON is AppendJSON for encoding/json.
func (l listRows) MarshalJSON() ([]byte, error) { return l.AppendJSON(nil), nil }

func accountList(ctx context.Context, c *osh.Call) osh.Result {
	audit := c.Args.Has("audit")
	if audit && !c.Sess.Roles.Auditor && !c.Sess.Roles.Admin {
		return osh.Fail("", "ERR_PERMISSION_DENIED", "You need to be a bastion auditor to use --audit")
	}
	// Without --audit the list shows the name and the activeness: the accounts' state columns
	// are enough, without their grants and settings (issue 14).
	list := c.Env.Store.AccountStates
	if audit {
		list = c.Env.Store.ListAccounts
	}
	all, err := list(ctx)
	if err != nil {
		return osh.Fail("", "ERR_INTERNAL", "cannot list accounts: %v", err)
	}
	pat, r := common.PatternsOf(c)
	if r != nil {
		return *r
	}
	only := map[string]bool{}
	for _, n := range c.Args.All("account") {
		only[n] = true
	}
	var mfa map[string]store.MFAConfigured
	if audit {
		// Every account's factors in one query (issue 14: mfa_*_configured were 0 for all).
		if mfa, err = c.Env.Store.MFAConfigured(ctx); err != nil {
			return osh.Fail("", "ERR_INTERNAL", "cannot read the accounts' factors: %v", err)
		}
	}
	// One of the two lists is filled, sorted by name as encoding/json sorts a map's keys.
	var rows listRows
	// The audited accounts are kept in place in all (10,000 accounts copied into a growing slice
	// were a third of the command's allocations, issue 14).
	audited := all[:0]
	cfg := c.Cfg()
	now, globalMax, quiet := c.Now(), cfg.AccountMaxInactiveDays, c.Args.Has("no-output")
	var line []byte
	for i := range all {
		a := &all[i]
		if len(only) > 0 && !only[a.Name] || !pat.Keep(a.Name) {
			continue
		}
		active := activeAsListed(a, now, globalMax, cfg.AlwaysActive(a.Name))
		if c.Args.Has("inactive-only") && active {
			continue
		}
		state := "active"
		if !active {
			state = "inactive"
		}
		// The line per account is made in one reused buffer (fmt's per-call allocations were a
		// tenth of the command's, issue 14): "%-28s %s", with --audit "%-28s %-8s created DATE
		// by %s%s".
		if !audit {
			rows = append(rows, listRow{Name: a.Name, IsActive: common.Bool(active)})
			if !quiet {
				line = append(appendPadded(line[:0], a.Name, 28), ' ')
				c.P.LineBytes(append(line, state...))
			}
			continue
		}
		if !quiet {
			line = append(appendPadded(line[:0], a.Name, 28), ' ')
			line = append(appendPadded(line, state, 8), " created "...)
			line = append(a.CreatedAt.AppendFormat(line, "2006-01-02"), " by "...)
			c.P.LineBytes(append(append(line, a.CreatedBy...), frozenTag(*a)...))
		}
		audited = append(audited, *a)
	}
	var value any = rows.sorted()
	n := len(rows)
	if audit {
		// Each row is made as the answer is written (infoLazy), into reused parts.
		var pw *AuditPassword
		if !c.Args.Has("no-password-info") {
			pw = newAuditPassword(cfg)
		}
		var la LastActivity
		value, n = infoLazy{accounts: byName(audited), fill: func(a *store.Account, v *Info) {
			in := auditInput(a, now, globalMax, cfg.AlwaysActive(a.Name), mfa[a.Name])
			fillAuditRow(v, &in, pw, &la)
		}}, len(audited)
	}
	if n == 0 {
		// The Bastion's accountList answers OK with an empty object, not OK_EMPTY.
		c.P.Line("No account matches.")
		return osh.OK("", value)
	}
	if quiet {
		c.P.Line("No-output requested, if you see only this message, you might have omitted --json")
	}
	c.P.Line("%d account(s).", n)
	return osh.OK("", value)
}

// appendPadded appends s left-aligned in width characters, as fmt's %-*s.
func appendPadded(b []byte, s string, width int) []byte {
	b = append(b, s...)
	for n := utf8.RuneCountInString(s); n < width; n++ {
		b = append(b, ' ')
	}
	return b
}

func frozenTag(a store.Account) string {
	if a.Frozen {
		return " [FROZEN]"
	}
	return ""
}

func accountInfo(ctx context.Context, c *osh.Call) osh.Result {
	// What an account sees of another is The Bastion's least privilege: see InfoValue.
	auditor := c.Sess.Roles.Auditor || c.Sess.Roles.Admin
	withPassword := wantsPasswordInfo(c)
	withEgressKeys := infoToggle(c.Args.Has, "egress-keys", false)
	if (withPassword || withEgressKeys) && !c.Sess.Roles.Auditor && !c.Sess.Roles.Admin {
		return osh.Fail("", "ERR_ACCESS_DENIED", "This option can only be used by bastion auditors")
	}
	// password adds the MFA password information to v when asked (auditors and admins only),
	// and the account's egress keys (keyed by fingerprint, as selfListEgressKeys) when asked.
	password := func(a store.Account, v *Info) (map[string]any, *osh.Result) {
		if withEgressKeys {
			keys, err := c.Env.Store.ListEgressKeys(ctx, "account", a.Name)
			if err != nil {
				r := osh.Fail("", "ERR_INTERNAL", "cannot list the egress keys of %s: %v", a.Name, err)
				return nil, &r
			}
			v.EgressKeys = common.EgressKeysByFingerprint(&osh.Printer{W: io.Discard, Quiet: true}, keys, c.Cfg().EgressKeysFrom)
		}
		if !withPassword {
			return nil, nil
		}
		m, err := c.Env.Store.GetMFA(ctx, a.Name)
		if err != nil {
			r := osh.Fail("", "ERR_INTERNAL", "cannot read the factors of %s: %v", a.Name, err)
			return nil, &r
		}
		pi := PasswordInfo(a.Name, m, c.Cfg())
		v.Password = pi
		return pi, nil
	}
	if c.Args.Has("all") {
		if c.Args.Has("account") {
			return osh.Fail("", "ERR_INCOMPATIBLE_PARAMETERS", "Can't use both --account and --all")
		}
		if !auditor {
			return osh.Fail("", "ERR_ACCESS_DENIED", "This option can only be used by bastion auditors")
		}
		all, err := c.Env.Store.ListAccounts(ctx)
		if err != nil {
			return osh.Fail("", "ERR_INTERNAL", "cannot list accounts: %v", err)
		}
		// Every account's groups and factors in two queries, not three per account (issue 14).
		pre, err := loadAllInfo(ctx, c, withEgressKeys)
		if err != nil {
			return osh.Fail("", "ERR_INTERNAL", "cannot read the accounts: %v", err)
		}
		// Nothing more to read per account: each Info is made as the answer is written, the
		// values the --with options add included (from what loadAllInfo read).
		now, globalMax, cfg := c.Now(), c.Cfg().AccountMaxInactiveDays, c.Cfg()
		var pw []byte // the password information of the account being written
		c.P.Line("%d account(s).", len(all))
		return osh.OK("", infoLazy{accounts: byName(all), fill: func(a *store.Account, v *Info) {
			fillInfo(v, infoInput(InfoInput{Account: *a, CallerAuditor: auditor, Now: now, GlobalMaxInactiveDays: globalMax,
				ListedAlwaysActive: cfg.AlwaysActive(a.Name)}, pre))
			if withEgressKeys {
				v.EgressKeys = egressKeysJSON(pre.egressKeys[a.Name], cfg.EgressKeysFrom)
			}
			if withPassword {
				pw = appendPasswordInfo(pw[:0], a.Name, pre.mfa[a.Name], cfg)
				v.Password = json.RawMessage(pw) // written out before the next account's is made
			}
		}})
	}
	if !c.Args.Has("account") {
		return osh.Fail("", "ERR_MISSING_PARAMETER", "Missing either --account or --all parameter")
	}
	a, r := target(ctx, c)
	if r != nil {
		return *r
	}
	v, err := infoOf(ctx, c, a, auditor)
	if err != nil {
		return osh.Fail("", "ERR_INTERNAL", "cannot read account %s: %v", a.Name, err)
	}
	for _, l := range accountInfoLines(v) {
		c.P.Line("%s", l)
	}
	pi, r := password(a, v)
	if r != nil {
		return *r
	}
	if pi != nil {
		passwordInfoLines(c.P, pi)
	}
	return osh.OK("", v.Value())
}

// allInfo is what infoOf reads beyond the account, loaded once for every account
// (accountInfo --all): each account's groups with its roles there, its configured factors and,
// with --with-egress-keys, its egress keys.
type allInfo struct {
	groups     map[string][]store.GroupRoles
	mfa        map[string]store.MFAConfigured
	egressKeys map[string][]store.EgressKey
}

// loadAllInfo loads allInfo: every group with its roles, every account's factors and, when
// asked, every account's egress keys (one query, not one per account).
func loadAllInfo(ctx context.Context, c *osh.Call, egressKeys bool) (*allInfo, error) {
	pre := &allInfo{}
	if infoToggle(c.Args.Has, "groups", true) {
		// From the roles alone, not every group read in full (issue 14).
		var err error
		if pre.groups, err = c.Env.Store.RolesByAccount(ctx); err != nil {
			return nil, err
		}
	}
	if egressKeys {
		keys, err := c.Env.Store.ListEgressKeysKind(ctx, "account")
		if err != nil {
			return nil, err
		}
		pre.egressKeys = map[string][]store.EgressKey{}
		for _, k := range keys {
			pre.egressKeys[k.Owner] = append(pre.egressKeys[k.Owner], k)
		}
	}
	var err error
	pre.mfa, err = c.Env.Store.MFAConfigured(ctx)
	return pre, err
}

// infoOf reads what InfoValue needs of account a, with the account's own queries, and returns
// its value (accountInfo --all reads every account's at once: loadAllInfo, infoInput).
func infoOf(ctx context.Context, c *osh.Call, a store.Account, auditor bool) (*Info, error) {
	in := InfoInput{Account: a, CallerAuditor: auditor, Now: c.Now(), GlobalMaxInactiveDays: c.Cfg().AccountMaxInactiveDays, ListedAlwaysActive: c.Cfg().AlwaysActive(a.Name)}
	if infoToggle(c.Args.Has, "groups", true) {
		groups, err := accountGroups(ctx, c, a.Name)
		if err != nil {
			return nil, err
		}
		in.Groups = groups
	}
	if auditor {
		m, err := c.Env.Store.GetMFA(ctx, a.Name)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		in.PasswordConfigured = m.PasswordHash != "" && !m.PasswordTemporary
		in.TOTPConfigured = m.TOTPSet
	}
	return InfoValue(in), nil
}

// infoInput completes in from what loadAllInfo read (an account without groups there, or
// groups not asked for, shows {}); it reads nothing more.
func infoInput(in InfoInput, pre *allInfo) InfoInput {
	in.GroupList = pre.groups[in.Account.Name]
	if in.CallerAuditor {
		m := pre.mfa[in.Account.Name]
		in.PasswordConfigured, in.TOTPConfigured = m.Password, m.TOTP
	}
	return in
}

func accountFreeze(ctx context.Context, c *osh.Call) osh.Result {
	a, r := target(ctx, c)
	if r != nil {
		return *r
	}
	if r := guard(c, a, access.ChangeFreeze); r != nil {
		return *r
	}
	if a.Frozen {
		return osh.Result{Code: "OK_NO_CHANGE", Message: "Account " + a.Name + " is already frozen", Value: map[string]any{"account": a.Name}}
	}
	reason := c.Args.String("reason")
	r, err := update(ctx, c, a, access.AccountChange{Kind: access.ChangeFreeze}, func(x *store.Account) error {
		x.Frozen, x.FrozenReason = true, reason
		return nil
	})
	if r != nil {
		return *r
	}
	if err != nil {
		return osh.Fail("", "ERR_INTERNAL", "cannot freeze %s: %v", a.Name, err)
	}
	why := "Your account has been frozen"
	if reason != "" {
		why += " (" + reason + ")"
	}
	n := common.EndSessions(ctx, c, a, why+" by "+c.Caller().Name, osh.ExitFrozen)
	c.P.Line("Account %s is now frozen; its sessions will be refused (%d running session(s) ended).", a.Name, n)
	return osh.OK("", map[string]any{"account": a.Name, "reason": reason, "sessions_ended": n})
}

func accountUnfreeze(ctx context.Context, c *osh.Call) osh.Result {
	a, r := target(ctx, c)
	if r != nil {
		return *r
	}
	if r := guard(c, a, access.ChangeUnfreeze); r != nil {
		return *r
	}
	if !a.Frozen {
		return osh.Result{Code: "OK_NO_CHANGE", Message: "Account " + a.Name + " is not frozen", Value: map[string]any{"account": a.Name}}
	}
	r, err := update(ctx, c, a, access.AccountChange{Kind: access.ChangeUnfreeze}, func(x *store.Account) error {
		x.Frozen, x.FrozenReason = false, ""
		return nil
	})
	if r != nil {
		return *r
	}
	if err != nil {
		return osh.Fail("", "ERR_INTERNAL", "cannot unfreeze %s: %v", a.Name, err)
	}
	c.P.Line("Account %s is no longer frozen.", a.Name)
	return osh.OK("", map[string]any{"account": a.Name})
}

func accountUnexpire(ctx context.Context, c *osh.Call) osh.Result {
	a, r := target(ctx, c)
	if r != nil {
		return *r
	}
	if r := guard(c, a, access.ChangeUnexpire); r != nil {
		return *r
	}
	// Counting activity from now lifts the inactivity expiry; a TTL or a freeze stays. As The
	// Bastion does, the activity is refreshed even when the account was not expired, and the
	// code says which case it was.
	days, expired := osh.InactivityExpired(&a, c.Now(), c.Cfg().AccountMaxInactiveDays)
	code, msg := "OK", "Account "+a.Name+" was expired, it is now active again."
	switch {
	case expired:
	case days <= 0:
		code, msg = "OK_EXPIRATION_NOT_CONFIGURED", "Account "+a.Name+" is not expired and expiration is not configured on this bastion, but its last activity date has been refreshed nevertheless."
	default:
		code, msg = "OK_NOT_EXPIRED", "Account "+a.Name+" is not expired, but its last activity date has been refreshed nevertheless."
	}
	r, err := update(ctx, c, a, access.AccountChange{Kind: access.ChangeUnexpire}, func(x *store.Account) error {
		x.LastSeenAt = c.Now().UTC()
		return nil
	})
	if r != nil {
		return *r
	}
	if err != nil {
		return osh.Fail("", "ERR_INTERNAL", "cannot unexpire %s: %v", a.Name, err)
	}
	c.P.Line("%s", msg)
	return osh.Result{Code: code, Message: msg, Value: map[string]any{"account": a.Name}}
}

func grantCommand(grant bool) func(context.Context, *osh.Call) osh.Result {
	return func(ctx context.Context, c *osh.Call) osh.Result {
		a, r := target(ctx, c)
		if r != nil {
			return *r
		}
		cmd := c.Args.String("command")
		if cmd == "" {
			return osh.Fail("", "ERR_MISSING_PARAMETER", "Missing mandatory parameter --command")
		}
		if known, ok := c.Env.Registry.Lookup(cmd); ok {
			if known.Category != osh.Restricted {
				return osh.Fail("", "ERR_INVALID_PARAMETER", "%s is not a restricted command: it needs no grant", cmd)
			}
			cmd = known.Name
		} else if cmd != osh.GrantAuditor && cmd != osh.GrantSuperOwner && cmd != osh.GrantAdmin {
			return osh.Fail("", "ERR_INVALID_PARAMETER", "%s is neither a restricted command nor one of the roles auditor, superowner, admin", cmd)
		}
		ch := access.AccountChange{Kind: map[bool]access.ChangeKind{true: access.ChangeGrant, false: access.ChangeRevoke}[grant], Command: cmd}
		if r := common.MayChange(c, a, ch); r != nil {
			return *r
		}
		changed := false
		r, err := update(ctx, c, a, ch, func(x *store.Account) error {
			has := x.HasGrant(cmd)
			switch {
			case grant && !has:
				x.Grants = append(x.Grants, cmd)
				changed = true
			case !grant && has:
				kept := x.Grants[:0]
				for _, g := range x.Grants {
					if g != cmd {
						kept = append(kept, g)
					}
				}
				x.Grants = kept
				changed = true
			}
			return nil
		})
		if r != nil {
			return *r
		}
		if err != nil {
			return osh.Fail("", "ERR_INTERNAL", "cannot change the grants of %s: %v", a.Name, err)
		}
		verb := map[bool]string{true: "granted to", false: "revoked from"}[grant]
		value := map[string]any{"account": a.Name, "command": cmd}
		if !changed {
			return osh.Result{Code: "OK_NO_CHANGE", Message: fmt.Sprintf("%s was already %s %s", cmd, verb, a.Name), Value: value}
		}
		c.P.Line("%s %s %s.", cmd, verb, a.Name)
		return osh.OK("", value)
	}
}

func accountListIngressKeys(ctx context.Context, c *osh.Call) osh.Result {
	a, r := target(ctx, c)
	if r != nil {
		return *r
	}
	keys, err := c.Env.Store.ListIngressKeys(ctx, a.Name)
	if err != nil {
		return osh.Fail("", "ERR_INTERNAL", "cannot list keys: %v", err)
	}
	c.P.Line("Account %s has %d ingress key(s):", a.Name, len(keys))
	return osh.OK("", map[string]any{"account": a.Name, "keys": common.IngressKeysValue(c.P, keys)})
}

func accountListEgressKeys(ctx context.Context, c *osh.Call) osh.Result {
	a, r := target(ctx, c)
	if r != nil {
		return *r
	}
	keys, err := c.Env.Store.ListEgressKeys(ctx, "account", a.Name)
	if err != nil {
		return osh.Fail("", "ERR_INTERNAL", "cannot list keys: %v", err)
	}
	c.P.Line("Account %s has %d egress key(s):", a.Name, len(keys))
	return osh.OK("", common.EgressKeysByFingerprint(c.P, keys, c.Cfg().EgressKeysFrom))
}
