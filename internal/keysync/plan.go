// Package keysync keeps accounts and their login keys in step with a source of truth: an S3
// bucket of PREFIX/<account>.pub objects (as the AWS bastion guide lays them out), a local
// directory of the same shape, or an HTTPS URL per account. Reconcile is the decision, a pure
// function of what the source says and what the store holds; Syncer fetches, decides, applies,
// audits and counts.
//
// Rules (docs/sync.md):
//   - A source touches only the accounts it manages (created by it); any other account of the
//     same name is reported and left alone.
//   - Nothing is ever deleted: an account whose keys all disappeared is frozen (its keys
//     removed), and unfrozen when keys come back — only if the sync froze it.
//   - A source that fails, is empty, or would freeze more than maxRemoveShare of the active
//     accounts it manages changes nothing (refused; an alert is raised).
package keysync

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"gatehouse/internal/access"
	"gatehouse/internal/sshkey"
)

// Entry is what a source says about one account.
type Entry struct {
	Keys []sshkey.Key
	// Groups the account should be a member of; nil when the source says nothing.
	Groups []string
	// Object names where the keys came from (an S3 key, a file, a URL) and Version identifies
	// its content: "etag:…" or "sha256:…".
	Object  string
	Version string
	// Bad lists the key lines that were skipped, with why (line numbers, never the line).
	Bad []string
}

// Snapshot is everything a source said in one fetch, by account name.
type Snapshot map[string]Entry

// Key is a key the store holds for an account.
type Key struct {
	Fingerprint string
	Line        string
}

// Current is the store's state of one account managed by the source.
type Current struct {
	Frozen bool
	// FrozenBySync: the sync froze it (and nobody changed that since); only then it unfreezes.
	FrozenBySync bool
	Keys         []Key
	Groups       []string // groups it is a member of
}

// Input is everything Reconcile decides on.
type Input struct {
	Source string
	// FetchErr is set when the source could not be read completely: nothing may change.
	FetchErr error
	Desired  Snapshot
	// Managed are the accounts this source manages; Unmanaged names every other account that
	// exists (by hand, or another source's).
	Managed   map[string]Current
	Unmanaged map[string]bool
	// Groups are the groups that exist (a source cannot create one).
	Groups map[string]bool
	// MaxRemoveShare is the share (0–1) of the source's active managed accounts a run may
	// freeze; Force lifts it (gatehouse sync --force), not the other checks.
	MaxRemoveShare float64
	Force          bool
}

// Kind is the kind of a change.
type Kind string

const (
	CreateAccount Kind = "create_account"
	AddKey        Kind = "add_key"
	RemoveKey     Kind = "remove_key"
	Freeze        Kind = "freeze"
	Unfreeze      Kind = "unfreeze"
	AddToGroup    Kind = "add_to_group"
)

// Change is one step of a plan.
type Change struct {
	Kind    Kind
	Account string
	// Key for add_key and remove_key; Keys for create_account.
	Key  Key
	Keys []sshkey.Key
	// Group for add_to_group.
	Group string
	// Object and Version say where the change comes from ("" for a freeze: the object is gone
	// or holds no valid key, Object then names what was looked at when known).
	Object, Version string
}

// Verdict says whether a plan may be applied.
type Verdict string

const (
	Apply        Verdict = "apply"
	RefusedFetch Verdict = "refused_unreachable"
	RefusedEmpty Verdict = "refused_empty"
	RefusedShare Verdict = "refused_share"
)

// Plan is Reconcile's answer.
type Plan struct {
	Source  string
	Verdict Verdict
	// Reason explains a refusal, for the alert and the operator.
	Reason  string
	Changes []Change
	// Skipped are the accounts the source names that are left alone, with why.
	Skipped []string
}

// Refused reports whether the plan must not be applied.
func (p Plan) Refused() bool { return p.Verdict != Apply }

// FreezeCount is how many accounts the plan freezes.
func (p Plan) FreezeCount() int {
	n := 0
	for _, c := range p.Changes {
		if c.Kind == Freeze {
			n++
		}
	}
	return n
}

// Reconcile computes what the store must do to follow the source, and whether it may.
func Reconcile(in Input) Plan {
	p := Plan{Source: in.Source, Verdict: Apply}
	if in.FetchErr != nil {
		p.Verdict, p.Reason = RefusedFetch, fmt.Sprintf("source %s could not be read completely (%v): nothing changed", in.Source, in.FetchErr)
		return p
	}
	valid := 0
	for _, e := range in.Desired {
		if len(e.Keys) > 0 {
			valid++
		}
	}
	names := make([]string, 0, len(in.Desired)+len(in.Managed))
	seen := map[string]bool{}
	for n := range in.Desired {
		names, seen[n] = append(names, n), true
	}
	for n := range in.Managed {
		if !seen[n] {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	// Names already taken, by their lower case: a new account differing from one only in case
	// ("Admin" next to "admin") would read as the other in logs and lists.
	taken := map[string]string{}
	for n := range in.Unmanaged {
		taken[strings.ToLower(n)] = n
	}
	for n := range in.Managed {
		taken[strings.ToLower(n)] = n
	}
	// Two new names of the source differing only in case: which one is meant is unclear, so
	// neither is created.
	fresh := map[string]int{}
	for n := range in.Desired {
		if _, ok := taken[strings.ToLower(n)]; !ok {
			fresh[strings.ToLower(n)]++
		}
	}
	active := 0
	for _, c := range in.Managed {
		if !c.Frozen {
			active++
		}
	}
	for _, name := range names {
		e, listed := in.Desired[name]
		cur, managed := in.Managed[name]
		for _, b := range e.Bad {
			p.Skipped = append(p.Skipped, fmt.Sprintf("%s: %s", name, b))
		}
		switch {
		case !managed && in.Unmanaged[name]:
			if listed {
				p.Skipped = append(p.Skipped, fmt.Sprintf("%s: an account of this name exists and is not managed by source %s: left alone", name, in.Source))
			}
		case !managed:
			if err := access.ValidateAccountName(name); err != nil {
				p.Skipped = append(p.Skipped, fmt.Sprintf("%s: %v", name, err))
				continue
			}
			if len(e.Keys) == 0 {
				p.Skipped = append(p.Skipped, fmt.Sprintf("%s: no valid key: not created", name))
				continue
			}
			if other, ok := taken[strings.ToLower(name)]; ok {
				p.Skipped = append(p.Skipped, fmt.Sprintf("%s: differs only in case from account %s: not created", name, other))
				continue
			}
			if fresh[strings.ToLower(name)] > 1 {
				p.Skipped = append(p.Skipped, fmt.Sprintf("%s: another name of the source differs from it only in case: neither is created", name))
				continue
			}
			p.Changes = append(p.Changes, Change{Kind: CreateAccount, Account: name, Keys: e.Keys, Object: e.Object, Version: e.Version})
			p.Changes = append(p.Changes, groupChanges(&p, name, e, nil, in.Groups)...)
		case len(e.Keys) == 0:
			// Gone from the source, or nothing valid left: freeze, and take its keys away so
			// that an unfreeze by hand does not bring them back.
			if !cur.Frozen {
				p.Changes = append(p.Changes, Change{Kind: Freeze, Account: name, Object: e.Object, Version: e.Version})
			}
			for _, k := range cur.Keys {
				p.Changes = append(p.Changes, Change{Kind: RemoveKey, Account: name, Key: k, Object: e.Object, Version: e.Version})
			}
		default:
			want := map[string]string{}
			for _, k := range e.Keys {
				want[k.Fingerprint] = k.Line
			}
			have := map[string]string{}
			for _, k := range cur.Keys {
				have[k.Fingerprint] = k.Line
				if line, ok := want[k.Fingerprint]; !ok || line != k.Line {
					p.Changes = append(p.Changes, Change{Kind: RemoveKey, Account: name, Key: k, Object: e.Object, Version: e.Version})
				}
			}
			for _, k := range e.Keys {
				if line, ok := have[k.Fingerprint]; !ok || line != k.Line {
					p.Changes = append(p.Changes, Change{Kind: AddKey, Account: name, Key: Key{Fingerprint: k.Fingerprint, Line: k.Line}, Object: e.Object, Version: e.Version})
				}
			}
			p.Changes = append(p.Changes, groupChanges(&p, name, e, cur.Groups, in.Groups)...)
			if cur.Frozen && cur.FrozenBySync {
				p.Changes = append(p.Changes, Change{Kind: Unfreeze, Account: name, Object: e.Object, Version: e.Version})
			}
		}
	}
	switch {
	case valid == 0:
		p.Verdict, p.Reason = RefusedEmpty, fmt.Sprintf("source %s lists no account with a valid key: nothing changed (an emptied bucket or a wrong prefix would freeze everyone)", in.Source)
	case !in.Force && exceeds(p.FreezeCount(), active, in.MaxRemoveShare):
		p.Verdict, p.Reason = RefusedShare, fmt.Sprintf("source %s would freeze %d of the %d active accounts it manages, more than maxRemoveShare %g: nothing changed (check the source, or run gatehouse sync --force)",
			in.Source, p.FreezeCount(), active, in.MaxRemoveShare)
	}
	return p
}

// exceeds reports whether freezing n of active accounts is more than share of them.
func exceeds(n, active int, share float64) bool {
	if n == 0 {
		return false
	}
	return active == 0 || float64(n) > share*float64(active)
}

func groupChanges(p *Plan, name string, e Entry, member []string, exist map[string]bool) []Change {
	var out []Change
	for _, g := range e.Groups {
		switch {
		case slices.Contains(member, g):
		case !exist[g]:
			p.Skipped = append(p.Skipped, fmt.Sprintf("%s: group %s does not exist: not added (create it first)", name, g))
		default:
			out = append(out, Change{Kind: AddToGroup, Account: name, Group: g, Object: e.Object, Version: e.Version})
		}
	}
	return out
}

// String is the change as dry-run prints it (a created account on several lines, its keys
// indented).
func (c Change) String() string {
	var b strings.Builder
	switch c.Kind {
	case CreateAccount:
		fmt.Fprintf(&b, "+ account %s (%d key(s))", c.Account, len(c.Keys))
	case AddKey:
		fmt.Fprintf(&b, "+ key %s %s", c.Account, c.Key.Fingerprint)
	case RemoveKey:
		fmt.Fprintf(&b, "- key %s %s", c.Account, c.Key.Fingerprint)
	case Freeze:
		fmt.Fprintf(&b, "! freeze %s", c.Account)
	case Unfreeze:
		fmt.Fprintf(&b, "! unfreeze %s", c.Account)
	case AddToGroup:
		fmt.Fprintf(&b, "+ member %s of group %s", c.Account, c.Group)
	}
	if c.Object != "" {
		fmt.Fprintf(&b, "  (%s %s)", c.Object, c.Version)
	}
	for _, k := range c.Keys {
		fmt.Fprintf(&b, "\n    + key %s", k.Fingerprint)
	}
	return b.String()
}
