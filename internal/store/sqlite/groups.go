package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"gatehouse/internal/store"
)

var _ store.Groups = (*Store)(nil)

const groupCols = `name, created_at, created_by, mfa_required, idle_lock_timeout, idle_kill_timeout, guest_ttl_limit`

func scanGroup(sc interface{ Scan(...any) error }) (store.Group, error) {
	var g store.Group
	var created, ttl int64
	err := sc.Scan(&g.Name, &created, &g.CreatedBy, &g.MFARequired, &g.IdleLockTimeout, &g.IdleKillTimeout, &ttl)
	g.CreatedAt, g.GuestTTLLimit = fromUnix(created), time.Duration(ttl)*time.Second
	return g, err
}

func loadRoles(ctx context.Context, q queryer, g *store.Group) error {
	rows, err := q.QueryContext(ctx, `SELECT role, account FROM group_roles WHERE group_name=? ORDER BY role, account`, g.Name)
	if err != nil {
		return err
	}
	defer rows.Close()
	g.Roles = map[string][]string{}
	for rows.Next() {
		var role, acct string
		if err := rows.Scan(&role, &acct); err != nil {
			return err
		}
		g.Roles[role] = append(g.Roles[role], acct)
	}
	return rows.Err()
}

// CreateGroup inserts a group with its initial roles.
func (s *Store) CreateGroup(ctx context.Context, g store.Group) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := s.in(tx).ExecContext(ctx, `INSERT INTO groups(`+groupCols+`) VALUES (?,?,?,?,?,?,?)`, g.Name, unix(g.CreatedAt),
			g.CreatedBy, g.MFARequired, g.IdleLockTimeout, g.IdleKillTimeout, int64(g.GuestTTLLimit/time.Second))
		if isUnique(err) {
			return store.ErrExists
		}
		if err != nil {
			return err
		}
		for role, accts := range g.Roles {
			for _, a := range accts {
				if _, err := s.in(tx).ExecContext(ctx, `INSERT INTO group_roles(group_name, role, account) VALUES (?,?,?)`, g.Name, role, a); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// GetGroup returns a group with its roles.
func (s *Store) GetGroup(ctx context.Context, name string) (store.Group, error) {
	g, err := scanGroup(s.pool().QueryRowContext(ctx, `SELECT `+groupCols+` FROM groups WHERE name=?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return g, store.ErrNotFound
	}
	if err != nil {
		return g, err
	}
	return g, loadRoles(ctx, s.pool(), &g)
}

func (s *Store) listGroups(ctx context.Context, where string, args ...any) ([]store.Group, error) {
	rows, err := s.pool().QueryContext(ctx, `SELECT `+groupCols+` FROM groups `+where+` ORDER BY name`, args...)
	if err != nil {
		return nil, err
	}
	var out []store.Group
	for rows.Next() {
		g, err := scanGroup(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, g)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// Every role of the listed groups in one query, not one per group (issue 14).
	byName := make(map[string]*store.Group, len(out))
	for i := range out {
		out[i].Roles = map[string][]string{}
		byName[out[i].Name] = &out[i]
	}
	rr, err := s.pool().QueryContext(ctx, `SELECT group_name, role, account FROM group_roles WHERE group_name IN (SELECT name FROM groups `+where+`) ORDER BY group_name, role, account`, args...)
	if err != nil {
		return nil, err
	}
	defer rr.Close()
	for rr.Next() {
		var name, role, acct string
		if err := rr.Scan(&name, &role, &acct); err != nil {
			return nil, err
		}
		if g := byName[name]; g != nil {
			g.Roles[role] = append(g.Roles[role], acct)
		}
	}
	return out, rr.Err()
}

// ListGroups returns every group, sorted by name.
func (s *Store) ListGroups(ctx context.Context) ([]store.Group, error) { return s.listGroups(ctx, "") }

// GroupsOf returns the groups where account holds a role.
func (s *Store) GroupsOf(ctx context.Context, account string) ([]store.Group, error) {
	return s.listGroups(ctx, `WHERE name IN (SELECT group_name FROM group_roles WHERE account=?)`, account)
}

// DeleteGroup removes a group, its roles, ACL and keys.
func (s *Store) DeleteGroup(ctx context.Context, name string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := s.in(tx).ExecContext(ctx, `DELETE FROM groups WHERE name=?`, name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrNotFound
		}
		if _, err := s.in(tx).ExecContext(ctx, `DELETE FROM acl_entries WHERE kind IN ('group','guest') AND owner=?`, name); err != nil {
			return err
		}
		if _, err = s.in(tx).ExecContext(ctx, `DELETE FROM egress_keys WHERE owner_kind='group' AND owner=?`, name); err != nil {
			return err
		}
		_, err = s.in(tx).ExecContext(ctx, `DELETE FROM egress_passwords WHERE owner_kind='group' AND owner=?`, name)
		return err
	})
}

// UpdateGroup applies fn to a group's settings in one transaction.
func (s *Store) UpdateGroup(ctx context.Context, name string, fn func(*store.Group) error) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		g, err := scanGroup(s.in(tx).QueryRowContext(ctx, `SELECT `+groupCols+` FROM groups WHERE name=?`, name))
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		if err := loadRoles(ctx, tx, &g); err != nil {
			return err
		}
		if err := fn(&g); err != nil {
			return err
		}
		_, err = s.in(tx).ExecContext(ctx, `UPDATE groups SET mfa_required=?, idle_lock_timeout=?, idle_kill_timeout=?, guest_ttl_limit=? WHERE name=?`,
			g.MFARequired, g.IdleLockTimeout, g.IdleKillTimeout, int64(g.GuestTTLLimit/time.Second), name)
		return err
	})
}

// SetRole adds or removes one role of one account.
func (s *Store) SetRole(ctx context.Context, group, role, account string, on bool) (bool, error) {
	var res sql.Result
	var err error
	if on {
		res, err = s.pool().ExecContext(ctx, `INSERT OR IGNORE INTO group_roles(group_name, role, account) VALUES (?,?,?)`, group, role, account)
	} else {
		res, err = s.pool().ExecContext(ctx, `DELETE FROM group_roles WHERE group_name=? AND role=? AND account=?`, group, role, account)
	}
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

const aclCols = `id, kind, owner, account, host, user, port, comment, expires_at, added_by, added_at, force_key, force_password`

// AddACL inserts an entry; an identical one is ErrExists.
func (s *Store) AddACL(ctx context.Context, e store.ACLEntry) (store.ACLEntry, error) {
	res, err := s.pool().ExecContext(ctx, `INSERT INTO acl_entries(kind, owner, account, host, user, port, comment, expires_at, added_by, added_at, force_key, force_password)
		VALUES (?,?,?,?,?,?,?,?,?,?,?,?)`, e.Kind, e.Owner, e.Account, e.Host, e.User, e.Port, e.Comment, unix(e.ExpiresAt), e.AddedBy, unix(e.AddedAt), e.ForceKey, e.ForcePassword)
	if isUnique(err) {
		return e, store.ErrExists
	}
	if err != nil {
		return e, err
	}
	e.ID, err = res.LastInsertId()
	return e, err
}

// DeleteACL removes one entry.
func (s *Store) DeleteACL(ctx context.Context, e store.ACLEntry) error {
	res, err := s.pool().ExecContext(ctx, `DELETE FROM acl_entries WHERE kind=? AND owner=? AND account=? AND host=? AND user=? AND port=?`,
		e.Kind, e.Owner, e.Account, e.Host, e.User, e.Port)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// ListACL lists entries of one kind and owner; account filters guest entries ("" = all).
func (s *Store) ListACL(ctx context.Context, kind, owner, account string) ([]store.ACLEntry, error) {
	q := `SELECT ` + aclCols + ` FROM acl_entries WHERE kind=? AND owner=?`
	args := []any{kind, owner}
	if account != "" {
		q += ` AND account=?`
		args = append(args, account)
	}
	rows, err := s.pool().QueryContext(ctx, q+` ORDER BY id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.ACLEntry
	for rows.Next() {
		var e store.ACLEntry
		var exp, added int64
		if err := rows.Scan(&e.ID, &e.Kind, &e.Owner, &e.Account, &e.Host, &e.User, &e.Port, &e.Comment, &exp, &e.AddedBy, &added, &e.ForceKey, &e.ForcePassword); err != nil {
			return nil, err
		}
		e.ExpiresAt, e.AddedAt = fromUnix(exp), fromUnix(added)
		out = append(out, e)
	}
	return out, rows.Err()
}

// ListACLKind returns every entry of one kind, whatever its owner, in one query (whoHasAccessTo).
// A dotted IPv4 address is written one way only (netip refuses leading zeros), so a host of
// digits and dots other than ip is another address, or no address at all: left out when ip is
// given. Prefixes ('/'), IPv6 (':') and names (letters) are always kept.
func (s *Store) ListACLKind(ctx context.Context, kind, ip string) ([]store.ACLEntry, error) {
	rows, err := s.pool().QueryContext(ctx, `SELECT `+aclCols+` FROM acl_entries WHERE kind=? AND (?='' OR host=? OR host GLOB '*[^0-9.]*') ORDER BY id`, kind, ip, ip)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.ACLEntry
	for rows.Next() {
		var e store.ACLEntry
		var exp, added int64
		if err := rows.Scan(&e.ID, &e.Kind, &e.Owner, &e.Account, &e.Host, &e.User, &e.Port, &e.Comment, &exp, &e.AddedBy, &added, &e.ForceKey, &e.ForcePassword); err != nil {
			return nil, err
		}
		e.ExpiresAt, e.AddedAt = fromUnix(exp), fromUnix(added)
		out = append(out, e)
	}
	return out, rows.Err()
}

// ReplaceACL replaces the whole list of one owner in one transaction.
func (s *Store) ReplaceACL(ctx context.Context, kind, owner string, entries []store.ACLEntry) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := s.in(tx).ExecContext(ctx, `DELETE FROM acl_entries WHERE kind=? AND owner=?`, kind, owner); err != nil {
			return err
		}
		for _, e := range entries {
			_, err := s.in(tx).ExecContext(ctx, `INSERT OR IGNORE INTO acl_entries(kind, owner, account, host, user, port, comment, expires_at, added_by, added_at, force_key, force_password)
				VALUES (?,?,?,?,?,?,?,?,?,?,?,?)`, kind, owner, e.Account, e.Host, e.User, e.Port, e.Comment, unix(e.ExpiresAt), e.AddedBy, unix(e.AddedAt), e.ForceKey, e.ForcePassword)
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// KnownHostKeys returns the keys an account has seen for hostport.
func (s *Store) KnownHostKeys(ctx context.Context, account, hostport string) ([]store.KnownHost, error) {
	rows, err := s.pool().QueryContext(ctx, `SELECT account, hostport, key, added_at FROM known_hosts WHERE account=? AND hostport=?`, account, hostport)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.KnownHost
	for rows.Next() {
		var k store.KnownHost
		var added int64
		if err := rows.Scan(&k.Account, &k.HostPort, &k.Key, &added); err != nil {
			return nil, err
		}
		k.AddedAt = fromUnix(added)
		out = append(out, k)
	}
	return out, rows.Err()
}

// HasKnownHosts reports whether the account has any recorded host key.
func (s *Store) HasKnownHosts(ctx context.Context, account string) (bool, error) {
	var one int
	err := s.pool().QueryRowContext(ctx, `SELECT 1 FROM known_hosts WHERE account=? LIMIT 1`, account).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// AddKnownHost records a host key (idempotent).
func (s *Store) AddKnownHost(ctx context.Context, k store.KnownHost) error {
	_, err := s.pool().ExecContext(ctx, `INSERT OR IGNORE INTO known_hosts(account, hostport, key, added_at) VALUES (?,?,?,?)`,
		k.Account, k.HostPort, k.Key, unix(k.AddedAt))
	return err
}

// ForgetHost removes host keys of hostport for one account, or for all when account is "".
func (s *Store) ForgetHost(ctx context.Context, account, hostport string) (int, error) {
	var res sql.Result
	var err error
	if account == "" {
		res, err = s.pool().ExecContext(ctx, `DELETE FROM known_hosts WHERE hostport=?`, hostport)
	} else {
		res, err = s.pool().ExecContext(ctx, `DELETE FROM known_hosts WHERE account=? AND hostport=?`, account, hostport)
	}
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}
