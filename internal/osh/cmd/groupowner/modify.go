package groupowner

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"gatehouse/internal/osh"
	"gatehouse/internal/store"
)

// setting is one groupModify option: how its value is read and how it changes a group.
type setting struct {
	opt     string
	kind    osh.OptionKind
	choices []string
	// parse validates the value before anything changes.
	parse func(v string) (any, error)
	// apply sets the parsed value on g and reports whether it changed.
	apply func(g *store.Group, v any) bool
}

// idleSeconds reads an idle timeout: a duration (0 disables) or -1 for the global value.
func idleSeconds(v string) (any, error) {
	if v == "-1" {
		return -1, nil
	}
	d, err := osh.ParseDuration(v)
	if err != nil {
		return nil, fmt.Errorf("%v; or -1 to use the global value", err)
	}
	return int(d / time.Second), nil
}

func intField(get func(*store.Group) *int) func(*store.Group, any) bool {
	return func(g *store.Group, v any) bool {
		p := get(g)
		if *p == v.(int) {
			return false
		}
		*p = v.(int)
		return true
	}
}

// settings are groupModify's options in The Bastion's names. mfa_required is only stored here;
// the MFA concern reads it when a member connects.
var settings = []setting{
	{opt: "mfa-required", kind: osh.String, choices: []string{"password", "totp", "any", "webhook", "approval", "none"},
		parse: func(v string) (any, error) {
			if v == "none" {
				return "", nil // stored empty: no requirement
			}
			return v, nil
		},
		apply: func(g *store.Group, v any) bool {
			if g.MFARequired == v.(string) || (g.MFARequired == "none" && v == "") {
				return false
			}
			g.MFARequired = v.(string)
			return true
		}},
	{opt: "idle-lock-timeout", kind: osh.String, parse: idleSeconds, apply: intField(func(g *store.Group) *int { return &g.IdleLockTimeout })},
	{opt: "idle-kill-timeout", kind: osh.String, parse: idleSeconds, apply: intField(func(g *store.Group) *int { return &g.IdleKillTimeout })},
	{opt: "guest-ttl-limit", kind: osh.Duration,
		parse: func(v string) (any, error) { return osh.ParseDuration(v) },
		apply: func(g *store.Group, v any) bool {
			d := v.(time.Duration).Truncate(time.Second)
			if g.GuestTTLLimit == d {
				return false
			}
			g.GuestTTLLimit = d
			return true
		}},
}

func modifyOptions() []osh.Option {
	opts := []osh.Option{groupOpt}
	for _, s := range settings {
		opts = append(opts, osh.Option{Name: s.opt, Kind: s.kind, Choices: s.choices})
	}
	return opts
}

func modify(ctx context.Context, c *osh.Call) osh.Result {
	g, r := loadAsOwner(ctx, c, "modify it")
	if r != nil {
		return *r
	}
	type change struct {
		s     setting
		raw   string
		value any
	}
	var todo []change
	for _, s := range settings {
		if !c.Args.Has(s.opt) {
			continue
		}
		raw := c.Args.String(s.opt)
		v, err := s.parse(raw)
		if err != nil {
			return osh.Fail("", "ERR_INVALID_PARAMETER", "--%s: %v; nothing was changed", s.opt, err)
		}
		todo = append(todo, change{s, raw, v})
	}
	if len(todo) == 0 {
		return osh.Fail("", "ERR_MISSING_PARAMETER", "Nothing to modify: give at least one of --mfa-required, --idle-lock-timeout, --idle-kill-timeout, --guest-ttl-limit")
	}
	results := map[string]any{}
	err := c.Env.Store.UpdateGroup(ctx, g.Name, func(x *store.Group) error {
		for _, ch := range todo {
			key := underscore(ch.s.opt)
			if ch.s.apply(x, ch.value) {
				results[key] = osh.Result{Code: "OK", Message: "OK", Value: ch.raw}
				c.P.Line("Setting %s of group %s to %s... done.", ch.s.opt, g.Name, describe(ch.s.opt, ch.value))
			} else {
				results[key] = osh.Result{Code: "OK_NO_CHANGE", Message: "Nothing to change, " + ch.s.opt + " is already " + ch.raw, Value: ch.raw}
				c.P.Line("%s of group %s is already %s, nothing to do.", ch.s.opt, g.Name, ch.raw)
			}
		}
		return nil
	})
	if err != nil {
		return osh.Fail("", "ERR_INTERNAL", "cannot modify group %s: %v", g.Name, err)
	}
	return osh.OK("", results)
}

// describe says what a parsed value means, for people.
func describe(opt string, v any) string {
	switch x := v.(type) {
	case int:
		switch x {
		case -1:
			return "the global value"
		case 0:
			return "disabled"
		}
		return strconv.Itoa(x) + "s"
	case time.Duration:
		if x == 0 {
			return "no limit"
		}
		return "a maximum allowed duration of " + x.String()
	case string:
		if x == "" {
			return "none"
		}
		return x
	}
	return fmt.Sprint(v)
}

func underscore(s string) string {
	b := []byte(s)
	for i := range b {
		if b[i] == '-' {
			b[i] = '_'
		}
	}
	return string(b)
}
