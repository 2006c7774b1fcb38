package postgres

import (
	"context"
	"slices"

	"github.com/jackc/pgx/v5"

	"gatehouse/internal/store"
	"gatehouse/internal/store/storecol"
)

var _ store.Listings = (*Store)(nil)

// The listings (store.Listings) read one table at a time, every row at once: issue 14's
// 10,000 accounts. A list of names is one text[] parameter (= ANY($1)).

const accountStateCols = `name, expires_at, osh_only, always_active, frozen, max_inactive_days, last_seen_at`

func (s *Store) accountStates(ctx context.Context, where string, args ...any) ([]store.Account, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+accountStateCols+` FROM accounts `+where+` ORDER BY name`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	// One reused account and list of destinations for every row, as ListAccounts.
	var out []store.Account
	var a store.Account
	var expires, seen int64
	dest := []any{&a.Name, &expires, &a.OshOnly, &a.AlwaysActive, &a.Frozen, &a.MaxInactiveDays, &seen}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		a.ExpiresAt, a.LastSeenAt = fromUnix(expires), fromUnix(seen)
		out = append(grow(out), a)
	}
	return out, rows.Err()
}

// AccountStates returns every account's state, sorted by name, without grants and settings.
func (s *Store) AccountStates(ctx context.Context) ([]store.Account, error) {
	return s.accountStates(ctx, "")
}

// AccountStatesNamed returns the state of the named accounts that exist.
func (s *Store) AccountStatesNamed(ctx context.Context, names []string) ([]store.Account, error) {
	if len(names) == 0 {
		return nil, nil
	}
	return s.accountStates(ctx, `WHERE name = ANY($1)`, names)
}

// GrantHolders returns the accounts holding any of commands, with the ones each holds.
func (s *Store) GrantHolders(ctx context.Context, commands []string) (map[string][]string, error) {
	out := map[string][]string{}
	if len(commands) == 0 {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT g.account, g.command FROM account_grants g JOIN accounts a ON a.name = g.account
		WHERE g.command = ANY($1) ORDER BY g.account, g.command`, commands)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var a, c string
		if err := rows.Scan(&a, &c); err != nil {
			return nil, err
		}
		out[a] = append(out[a], c)
	}
	return out, rows.Err()
}

// GroupNames returns every group's name, sorted.
func (s *Store) GroupNames(ctx context.Context) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT name FROM groups ORDER BY name`)
	if err != nil {
		return nil, err
	}
	return collect(rows, pgx.RowTo[string])
}

// GroupsNamed returns the named groups that exist, with their roles.
func (s *Store) GroupsNamed(ctx context.Context, names []string) ([]store.Group, error) {
	if len(names) == 0 {
		return nil, nil
	}
	return s.listGroups(ctx, `WHERE name = ANY($1)`, names)
}

// MFAConfigured returns which factors each account with one has configured.
func (s *Store) MFAConfigured(ctx context.Context) (map[string]store.MFAConfigured, error) {
	out := map[string]store.MFAConfigured{}
	rows, err := s.pool.Query(ctx, `SELECT account, NOT temporary, false, CASE WHEN temporary THEN 0 ELSE changed_at END FROM mfa_password
		UNION ALL SELECT account, false, true, 0 FROM mfa_totp`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var a string
		var pw, totp bool
		var changed int64
		if err := rows.Scan(&a, &pw, &totp, &changed); err != nil {
			return nil, err
		}
		m := out[a]
		m.Password, m.TOTP = m.Password || pw, m.TOTP || totp
		if pw {
			m.PasswordChanged = fromUnix(changed)
		}
		out[a] = m
	}
	return out, rows.Err()
}

// RolesByAccount returns every account's groups and roles in them, from group_roles alone.
func (s *Store) RolesByAccount(ctx context.Context) (map[string][]store.GroupRoles, error) {
	rows, err := s.pool.Query(ctx, `SELECT account, group_name, role FROM group_roles`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return storecol.RolesByAccount(rows)
}

// ListEgressKeysKind returns every egress key of one owner kind.
func (s *Store) ListEgressKeysKind(ctx context.Context, ownerKind string) ([]store.EgressKey, error) {
	return s.egressKeysWhere(ctx, `owner_kind=$1`, ownerKind)
}

// grantsSettingsOf fills the grants and settings of every account of out in two queries, not two
// per account (accountList at 10,000 accounts).
func grantsSettingsOf(ctx context.Context, q querier, out []store.Account) error {
	byName := make(map[string]*store.Account, len(out))
	for i := range out {
		out[i].Grants, out[i].Settings = nil, nil // a map only for an account with settings
		byName[out[i].Name] = &out[i]
	}
	rows, err := q.Query(ctx, `SELECT account, command FROM account_grants ORDER BY account, command`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var acct, c string
		if err := rows.Scan(&acct, &c); err != nil {
			rows.Close()
			return err
		}
		if a := byName[acct]; a != nil {
			a.Grants = append(a.Grants, c)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	rows, err = q.Query(ctx, `SELECT account, key, value FROM account_settings`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var acct, k, v string
		if err := rows.Scan(&acct, &k, &v); err != nil {
			return err
		}
		if a := byName[acct]; a != nil {
			if a.Settings == nil {
				a.Settings = map[string]string{}
			}
			a.Settings[k] = v
		}
	}
	return rows.Err()
}

// rolesOf fills the roles of every group of out in one query, not one per group. where and args
// are the groups' own selection (listGroups).
func rolesOf(ctx context.Context, q querier, out []store.Group, where string, args ...any) error {
	byName := make(map[string]*store.Group, len(out))
	for i := range out {
		out[i].Roles = map[string][]string{}
		byName[out[i].Name] = &out[i]
	}
	rows, err := q.Query(ctx, `SELECT group_name, role, account FROM group_roles
		WHERE group_name IN (SELECT name FROM groups `+where+`) ORDER BY group_name, role, account`, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var name, role, acct string
		if err := rows.Scan(&name, &role, &acct); err != nil {
			return err
		}
		if g := byName[name]; g != nil {
			g.Roles[role] = append(g.Roles[role], acct)
		}
	}
	return rows.Err()
}

// grow makes room for one more account by doubling: append grows a large slice by a quarter,
// and 10,000 accounts copied that way were 10 MB per listing (issue 14).
func grow(out []store.Account) []store.Account {
	if len(out) < cap(out) {
		return out
	}
	return slices.Grow(out, max(cap(out), 64))
}
