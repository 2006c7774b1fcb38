package sqlite

import (
	"context"
	"encoding/json"
	"fmt"

	"gatehouse/internal/store"
	"gatehouse/internal/store/storecol"
)

var _ store.Listings = (*Store)(nil)

// The listings (store.Listings) read one table at a time, every row at once: issue 14's
// 10,000 accounts. A list of names is one JSON array parameter read by json_each, so a list of
// any length is one statement.

// accountStateCols has the three flags in one column: modernc's SQLite costs per column read.
// (SQLite's << and | share one precedence: the parentheses are needed.)
const accountStateCols = `name, expires_at, osh_only | (always_active << 1) | (frozen << 2), max_inactive_days, last_seen_at`

func (s *Store) accountStates(ctx context.Context, where string, args ...any) ([]store.Account, error) {
	// A capacity hint, so that 10,000 accounts are not copied again and again as the slice grows.
	var n int
	if where == "" {
		if err := s.pool().QueryRowContext(ctx, `SELECT COUNT(*) FROM accounts`).Scan(&n); err != nil {
			return nil, err
		}
	}
	rows, err := s.pool().QueryContext(ctx, `SELECT `+accountStateCols+` FROM accounts `+where+` ORDER BY name`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make([]store.Account, 0, n)
	var expires, seen int64
	var flags int
	for rows.Next() {
		var a store.Account
		if err := rows.Scan(&a.Name, &expires, &flags, &a.MaxInactiveDays, &seen); err != nil {
			return nil, err
		}
		a.ExpiresAt, a.LastSeenAt = fromUnix(expires), fromUnix(seen)
		a.OshOnly, a.AlwaysActive, a.Frozen = flags&1 != 0, flags&2 != 0, flags&4 != 0
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
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
	list, err := jsonList(names)
	if err != nil {
		return nil, err
	}
	return s.accountStates(ctx, `WHERE name IN (SELECT value FROM json_each(?))`, list)
}

// GrantHolders returns the accounts holding any of commands, with the ones each holds.
func (s *Store) GrantHolders(ctx context.Context, commands []string) (map[string][]string, error) {
	out := map[string][]string{}
	if len(commands) == 0 {
		return out, nil
	}
	list, err := jsonList(commands)
	if err != nil {
		return nil, err
	}
	rows, err := s.pool().QueryContext(ctx, `SELECT g.account, g.command FROM account_grants g JOIN accounts a ON a.name = g.account
		WHERE g.command IN (SELECT value FROM json_each(?)) ORDER BY g.account, g.command`, list)
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
	rows, err := s.pool().QueryContext(ctx, `SELECT name FROM groups ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// GroupsNamed returns the named groups that exist, with their roles.
func (s *Store) GroupsNamed(ctx context.Context, names []string) ([]store.Group, error) {
	if len(names) == 0 {
		return nil, nil
	}
	list, err := jsonList(names)
	if err != nil {
		return nil, err
	}
	return s.listGroups(ctx, `WHERE name IN (SELECT value FROM json_each(?))`, list)
}

// MFAConfigured returns which factors each account with one has configured.
func (s *Store) MFAConfigured(ctx context.Context) (map[string]store.MFAConfigured, error) {
	out := map[string]store.MFAConfigured{}
	rows, err := s.pool().QueryContext(ctx, `SELECT account, temporary = 0, 0, CASE WHEN temporary = 0 THEN changed_at ELSE 0 END FROM mfa_password
		UNION ALL SELECT account, 0, 1, 0 FROM mfa_totp`)
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
	rows, err := s.pool().QueryContext(ctx, `SELECT account, group_name, role FROM group_roles`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return storecol.RolesByAccount(rows)
}

// ListEgressKeysKind returns every egress key of one owner kind.
func (s *Store) ListEgressKeysKind(ctx context.Context, ownerKind string) ([]store.EgressKey, error) {
	return s.egressKeysWhere(ctx, `owner_kind=?`, ownerKind)
}

// jsonList is a list of names as one parameter for json_each.
func jsonList(names []string) (string, error) {
	b, err := json.Marshal(names)
	if err != nil {
		return "", fmt.Errorf("encode name list: %w", err)
	}
	return string(b), nil
}
