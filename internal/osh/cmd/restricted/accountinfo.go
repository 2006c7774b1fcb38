package restricted

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"gatehouse/internal/osh"
)

// accountGroups is accountInfo's "groups": each group where the account holds a role, with
// its roles (member, owner, gatekeeper, aclkeeper, guest), sorted.
func accountGroups(ctx context.Context, c *osh.Call, account string) (map[string]any, error) {
	gs, err := c.Env.Store.GroupsOf(ctx, account)
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	for _, g := range gs {
		var roles []string
		for role := range g.Roles {
			if g.Has(role, account) {
				roles = append(roles, role)
			}
		}
		sort.Strings(roles)
		out[g.Name] = roles
	}
	return out, nil
}

// accountInfoLines are accountInfo's human lines, made from its JSON value so that the two say
// the same: roles, MFA requirements and bypasses, groups, activity. (The state, creation,
// grants, freeze and configured factors are printed before.)
func accountInfoLines(v map[string]any) []string {
	yes := func(k string) bool { x, _ := v[k].(int); return x == 1 }
	var lines []string
	var roles []string
	for _, r := range []struct{ key, name string }{{"is_admin", "admin"}, {"is_superowner", "super-owner"}, {"is_auditor", "auditor"}} {
		if yes(r.key) {
			roles = append(roles, r.name)
		}
	}
	if len(roles) > 0 {
		lines = append(lines, "Roles: "+strings.Join(roles, ", ")+".")
	}
	if yes("osh_only") {
		lines = append(lines, "May only run --osh commands (no connection to servers).")
	}
	if _, ok := v["mfa_totp_required"]; ok {
		lines = append(lines, fmt.Sprintf("MFA required: password %v, TOTP %v; personal accesses ask: %v.",
			v["mfa_password_required"], v["mfa_totp_required"], v["personal_egress_mfa_required"]))
		lines = append(lines, fmt.Sprintf("Key only, second factors bypassed (pam-auth-bypass): %v; key optional (pubkey-auth-optional): %v.",
			v["pam_auth_bypass"], v["pubkey_auth_optional"]))
	}
	if gs, ok := v["groups"].(map[string]any); ok {
		if len(gs) == 0 {
			lines = append(lines, "Groups: none.")
		} else {
			names := make([]string, 0, len(gs))
			for n := range gs {
				names = append(names, n)
			}
			sort.Strings(names)
			parts := make([]string, len(names))
			for i, n := range names {
				roles, _ := gs[n].([]string)
				parts[i] = fmt.Sprintf("%s (%s)", n, strings.Join(roles, ", "))
			}
			lines = append(lines, "Groups: "+strings.Join(parts, ", ")+".")
		}
	}
	last := "never"
	if t, ok := v["last_activity"].(int64); ok {
		last = time.Unix(t, 0).UTC().Format(time.RFC3339)
	}
	inactive := "the bastion's setting"
	if d, ok := v["max_inactive_days"].(int); ok && d >= 0 {
		inactive = fmt.Sprintf("%d days", d)
		if d == 0 {
			inactive = "never"
		}
	}
	lines = append(lines, fmt.Sprintf("Last activity: %s; expires after inactivity: %s%s.", last, inactive,
		map[bool]string{true: " (always active)", false: ""}[yes("always_active")]))
	if cm, _ := v["comment"].(string); cm != "" {
		lines = append(lines, "Comment: "+cm)
	}
	return lines
}
