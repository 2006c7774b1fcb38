// Package open holds the commands any account may run. Most act only on the caller's own data.
package open

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"sort"
	"strings"

	"golang.org/x/term"

	"gatehouse/internal/osh"
	"gatehouse/internal/osh/cmd/common"
	"gatehouse/internal/sshkey"
	"gatehouse/internal/store"
)

// Register adds the open commands to r.
func Register(r *osh.Registry) {
	r.Add(
		&osh.Command{Name: "info", Category: osh.Open, Summary: "information about this bastion and your account", MFASetupNotRequired: true, Run: info},
		&osh.Command{Name: "help", Category: osh.Open, Summary: "the commands you may run", MFASetupNotRequired: true, Run: help},
		&osh.Command{Name: "batch", Category: osh.Open, Summary: "run several commands read from standard input", ReadsStdin: true, Run: batch},
		&osh.Command{Name: "selfListIngressKeys", Category: osh.Open, Summary: "the public keys you log in with", Run: selfListIngressKeys},
		&osh.Command{Name: "selfAddIngressKey", Category: osh.Open, Summary: "add a public key to log in with", ReadsStdin: true,
			Options: []osh.Option{{Name: "public-key", Kind: osh.Words, Help: "the key line, e.g. \"ssh-ed25519 AAAA… comment\""},
				{Name: "public-key-file", Kind: osh.String, Help: "\"-\" to read the key from standard input"}},
			Run: selfAddIngressKey},
		&osh.Command{Name: "selfDelIngressKey", Category: osh.Open, Summary: "remove one of your login keys",
			Options: []osh.Option{{Name: "fingerprint-to-delete", Kind: osh.String, Help: "SHA256:… of the key"},
				{Name: "id-to-delete", Kind: osh.Int, Help: "the id shown by selfListIngressKeys"}},
			Run: selfDelIngressKey},
		&osh.Command{Name: "selfListEgressKeys", Category: osh.Open, Summary: "your keys for reaching servers, to paste into their authorized_keys", Run: selfListEgressKeys},
		&osh.Command{Name: "selfGenerateEgressKey", Category: osh.Open, Summary: "make a new key pair for reaching servers",
			Options: []osh.Option{{Name: "algo", Kind: osh.String, Choices: []string{"ed25519", "ecdsa", "rsa"}, Help: "key algorithm"},
				{Name: "size", Kind: osh.Int, Help: "key size in bits (ecdsa 256/384/521, rsa 2048-8192)"},
				{Name: "encrypted", Kind: osh.Flag, Help: "refused: gatehouse seals every private key itself"}},
			Run: selfGenerateEgressKey},
	)
}

func info(ctx context.Context, c *osh.Call) osh.Result {
	a := c.Caller()
	cfg := c.Cfg()
	r := c.Sess.Roles
	c.P.Line("You are %s on %s (gatehouse %s).", a.Name, cfg.BastionName, c.Env.Version)
	// The Bastion's role lines, in its order.
	if r.Auditor {
		c.P.Line("You are a bastion auditor!")
	}
	if r.SuperOwner {
		c.P.Line("Look at you, you are a bastion superowner!")
	}
	if r.Admin {
		c.P.Line("Woosh, you are even a bastion admin!")
	}
	if a.OshOnly {
		c.P.Line("Your account may only run --osh commands: it cannot connect to servers.")
	}
	hostname, _ := os.Hostname()
	alias := BastionAlias(cfg.BastionCommand, a.Name, cfg.BastionName, hostname, c.Sess.LocalAddr)
	c.P.Line("")
	c.P.Line("Your alias to connect to this bastion is:")
	c.P.Line("alias %s='%s'", cfg.BastionName, alias)
	c.P.Line("")
	value := map[string]any{
		"account": a.Name, "bastion_name": cfg.BastionName, "version": c.Env.Version, "hostname": hostname,
		"bastion_alias_command": alias,
		"is_admin":              common.Bool(r.Admin), "is_superowner": common.Bool(r.SuperOwner), "is_auditor": common.Bool(r.Auditor),
		"osh_only": common.Bool(a.OshOnly), "ttl_expires": nil, "mfa_policy": cfg.AccountMFAPolicy,
		"interactive_mode_allowed": common.Bool(cfg.InteractiveModeAllowed),
	}
	if !a.ExpiresAt.IsZero() {
		value["ttl_expires"] = a.ExpiresAt.Unix()
	}
	for k, x := range common.MFAState(ctx, c, *a) {
		value[k] = x
	}
	if r.Auditor || r.Admin {
		// Only the accounts holding either grant (one query), not every account (issue 14).
		holders, err := c.Env.Store.GrantHolders(ctx, []string{osh.GrantAdmin, osh.GrantSuperOwner})
		if err != nil {
			return osh.Fail("", "ERR_INTERNAL", "cannot list accounts: %v", err)
		}
		accounts := make([]store.Account, 0, len(holders))
		for name, grants := range holders {
			accounts = append(accounts, store.Account{Name: name, Grants: grants})
		}
		admins, superOwners := AdminLists(accounts)
		// The Bastion's keys and labels; "admins" stays for gatehouse's earlier scripts.
		value["adminAccounts"], value["superOwnerAccounts"], value["admins"] = admins, superOwners, admins
		c.P.Line("My admins are: %s", dashIfEmpty(admins))
		c.P.Line("My super owners are: %s", dashIfEmpty(superOwners))
	}
	return osh.OK("", value)
}

// AdminLists are info's lists, as The Bastion's adminAccounts and superOwnerAccounts: the admins,
// and the accounts granted superowner that are not admins (an admin is a super-owner by being
// one, as there), each sorted by name.
func AdminLists(accounts []store.Account) (admins, superOwners []string) {
	admins, superOwners = []string{}, []string{}
	for _, x := range accounts {
		switch {
		case x.HasGrant(osh.GrantAdmin):
			admins = append(admins, x.Name)
		case x.HasGrant(osh.GrantSuperOwner):
			superOwners = append(superOwners, x.Name)
		}
	}
	sort.Strings(admins)
	sort.Strings(superOwners)
	return admins, superOwners
}

func dashIfEmpty(l []string) string {
	if len(l) == 0 {
		return "-"
	}
	return strings.Join(l, ", ")
}

func help(ctx context.Context, c *osh.Call) osh.Result {
	byCat := map[osh.Category][]*osh.Command{}
	for _, cmd := range c.Env.Registry.All() {
		if ok, _ := osh.Authorize(cmd, c.Sess.Roles); !ok {
			continue
		}
		byCat[cmd.Category] = append(byCat[cmd.Category], cmd)
	}
	c.P.Line("OSH help: use --osh COMMAND [options]. Connect with [user@]host [-p port] [command].")
	for _, cat := range []osh.Category{osh.Open, osh.Restricted, osh.GroupOwner, osh.GroupGatekeeper, osh.GroupAclkeeper, osh.Admin} {
		cmds := byCat[cat]
		if len(cmds) == 0 {
			continue
		}
		c.P.Line("")
		c.P.Line("%s commands:", cat)
		for _, cmd := range cmds {
			c.P.Line("  %-28s %s", cmd.Name, cmd.Summary)
		}
	}
	// The Bastion's help answers value null: the list is for people (and --osh help is what
	// scripts probe a bastion with, testing only the error_code).
	return osh.OK("", nil)
}

// maxBatchLines bounds a batch so one connection cannot keep the bastion busy forever.
const maxBatchLines = 1000

func batch(ctx context.Context, c *osh.Call) osh.Result {
	var results batchResults // bounded: see batchout.go
	sc := bufio.NewScanner(c.Sess.In)
	sc.Buffer(make([]byte, 64*1024), c.Cfg().MaxCommandLine)
	next := func() (string, bool) {
		if !sc.Scan() {
			return "", false
		}
		return sc.Text(), true
	}
	if c.Sess.Editor != nil || c.Sess.PTY {
		// On a terminal (`batch` typed in -i, or `ssh -t … --osh batch`, as the README's alias
		// has -t) the client's terminal is raw and nothing here is a line discipline: Enter
		// sends CR, ^D and ^C are plain bytes, nothing is echoed. Read by the scanner of LF-ended
		// lines, no line ever came and nothing ended the batch but a disconnection. A line
		// editor reads the lines as a terminal would: echoed, CR or LF, ^D or ^C ends the batch.
		ed := c.Sess.Editor
		if ed == nil {
			t := term.NewTerminal(struct {
				io.Reader
				io.Writer
			}{c.Sess.In, c.Sess.Out}, "")
			ed = t
			c.Sess.Editor = t // a factor asked by a line reads through it too (it reads ahead)
			defer func() { c.Sess.Editor = nil }()
		}
		next = func() (string, bool) {
			l, err := ed.ReadLine()
			return l, err == nil
		}
	}
	saved := c.Sess.InBatch
	c.Sess.InBatch = true
	defer func() { c.Sess.InBatch = saved }()
	// The Bastion's lines, which scripts driving a batch wait for.
	c.P.Line("Feed me osh commands line by line on stdin, I'll execute them sequentially.")
	c.P.Line("Use 'exit', 'quit' or ^D to stop.")
	c.P.Line("--- waiting for input")
	for n := 0; ; n++ {
		text, ok := next()
		if !ok {
			break
		}
		line := strings.TrimSpace(text)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if line == "quit" || line == "exit" {
			break
		}
		if n >= maxBatchLines {
			return osh.Fail("", "ERR_TOO_MANY_COMMANDS", "a batch may hold at most %d commands", maxBatchLines)
		}
		// Each line is authorized against the account as the store holds it now, as the
		// interactive mode does: a freeze, a deletion or a revoked grant stops what follows.
		if stop := c.Env.Recheck(ctx, c.Sess); stop != nil {
			c.P.Line("⛔ %s", stop.Message)
			results.add(line, *stop)
			r := *stop
			r.Value = results.value()
			return r
		}
		words, err := osh.Split(line)
		var r osh.Result
		if err != nil {
			r = osh.Refuse("KO_GETOPTS_FAILED", "Error parsing %q: %v", clip(line, maxBatchEcho), err)
		} else if words[0] == "batch" {
			r = osh.Refuse("KO_RESTRICTED_COMMAND", "batch cannot be nested")
		} else {
			c.P.Line("--- launching command: %s", clip(line, maxBatchEcho))
			// The batch's own JSON holds every result: a line's --json is dropped, as there.
			args, _, quiet := osh.SplitGlobalOptions(words[1:])
			r = c.Env.Run(ctx, c.Sess, words[0], args, c.P.Quiet || quiet)
		}
		if !r.Success() {
			c.P.Line("--- command failed!")
		}
		results.add(line, r)
	}
	if err := sc.Err(); err != nil && !errors.Is(err, io.EOF) {
		return osh.Fail("", "ERR_BAD_INPUT", "cannot read the batch: %v", err)
	}
	return osh.OK("", results.value())
}

func selfListIngressKeys(ctx context.Context, c *osh.Call) osh.Result {
	keys, err := c.Env.Store.ListIngressKeys(ctx, c.Caller().Name)
	if err != nil {
		return osh.Fail("", "ERR_INTERNAL", "cannot list your keys: %v", err)
	}
	c.P.Line("Your account has %d ingress key(s):", len(keys))
	c.P.Line("")
	return osh.OK("", map[string]any{"account": c.Caller().Name, "keys": common.IngressKeysValue(c.P, keys)})
}

func selfAddIngressKey(ctx context.Context, c *osh.Call) osh.Result {
	k, err := common.KeyFromArgs(c, true)
	if err != nil {
		return common.KeyFailure(err)
	}
	saved, err := c.Env.Store.AddIngressKey(ctx, store.IngressKey{Account: c.Caller().Name, Line: k.Line, Type: k.Type,
		Fingerprint: k.Fingerprint, Comment: k.Comment, From: k.From, CreatedAt: c.Now().UTC()})
	if errors.Is(err, store.ErrExists) {
		return osh.Fail("", "KO_DUPLICATE_KEY", "This public key already exists on your account! (%s)", k.Fingerprint)
	}
	if err != nil {
		return osh.Fail("", "ERR_INTERNAL", "cannot add the key: %v", err)
	}
	if k.From != "" {
		c.P.Line("You will only be able to connect from: %s", strings.Join(sshkey.FromList(k.From), ", "))
	}
	c.P.Line("Public key successfully added: %s", saved.Fingerprint)
	return osh.OK("", map[string]any{"account": c.Caller().Name, "connect_only_from": sshkey.FromList(k.From),
		"key": common.IngressKeysValue(&osh.Printer{W: io.Discard}, []store.IngressKey{saved})[0]})
}

func selfDelIngressKey(ctx context.Context, c *osh.Call) osh.Result {
	keys, err := c.Env.Store.ListIngressKeys(ctx, c.Caller().Name)
	if err != nil {
		return osh.Fail("", "ERR_INTERNAL", "cannot list your keys: %v", err)
	}
	fp := c.Args.String("fingerprint-to-delete")
	if c.Args.Has("id-to-delete") == c.Args.Has("fingerprint-to-delete") {
		return osh.Fail("", "ERR_MISSING_PARAMETER", "give exactly one of --fingerprint-to-delete or --id-to-delete (see selfListIngressKeys)")
	}
	var found *store.IngressKey
	for i := range keys {
		if keys[i].Fingerprint == fp || (c.Args.Has("id-to-delete") && keys[i].ID == int64(c.Args.Int("id-to-delete"))) {
			found = &keys[i]
		}
	}
	if found == nil {
		return osh.Fail("", "ERR_NO_MATCH", "Couldn't find any key matching this fingerprint or id; see selfListIngressKeys")
	}
	if len(keys) == 1 {
		return osh.Fail("", "ERR_ONLY_ONE_KEY", "You can't delete the only valid key you have! Add another one first, or you could not log in any more")
	}
	if err := c.Env.Store.DeleteIngressKey(ctx, c.Caller().Name, found.Fingerprint); err != nil {
		return osh.Fail("", "ERR_INTERNAL", "cannot delete the key: %v", err)
	}
	c.P.Line("Key %s removed.", found.Fingerprint)
	if found.Fingerprint == c.Sess.AuthKey {
		c.P.Line("Note: this is the key of your current connection; it will not work for the next one.")
	}
	return osh.OK("", map[string]any{"deleted_key": found.Fingerprint})
}

func selfListEgressKeys(ctx context.Context, c *osh.Call) osh.Result {
	keys, err := c.Env.Store.ListEgressKeys(ctx, "account", c.Caller().Name)
	if err != nil {
		return osh.Fail("", "ERR_INTERNAL", "cannot list your keys: %v", err)
	}
	c.P.Line("You have %d egress key(s). Put one in the ~/.ssh/authorized_keys of the servers you reach:", len(keys))
	c.P.Line("")
	return osh.OK("", common.EgressKeysByFingerprint(c.P, keys, c.Cfg().EgressKeysFrom))
}

func selfGenerateEgressKey(ctx context.Context, c *osh.Call) osh.Result {
	if c.Args.Has("encrypted") {
		return osh.Fail("", "ERR_INVALID_PARAMETER", "--encrypted is not supported: gatehouse seals every egress private key with its own key")
	}
	algo := c.Args.String("algo")
	if algo == "" {
		return osh.Fail("", "ERR_MISSING_PARAMETER", "give --algo ed25519, ecdsa or rsa (and --size for ecdsa and rsa)")
	}
	k, err := common.NewEgressKey(ctx, c, "account", c.Caller().Name, algo, c.Args.Int("size"))
	if err != nil {
		return osh.Fail("", "ERR_INVALID_PARAMETER", "%v", err)
	}
	c.P.Line("New key pair generated. Its public half:")
	v := common.EgressKeysValue(c.P, []store.EgressKey{k}, c.Cfg().EgressKeysFrom)
	return osh.OK("", v[0])
}
