package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"gatehouse/internal/store"
)

var _ store.Groups = (*Store)(nil)

const groupCols = `name, created_at, created_by, mfa_required, idle_lock_timeout, idle_kill_timeout, guest_ttl_limit`

func scanGroup(sc pgx.Row) (store.Group, error) {
	var g store.Group
	var created, ttl int64
	err := sc.Scan(&g.Name, &created, &g.CreatedBy, &g.MFARequired, &g.IdleLockTimeout, &g.IdleKillTimeout, &ttl)
	g.CreatedAt, g.GuestTTLLimit = fromUnix(created), time.Duration(ttl)*time.Second
	return g, err
}

func loadRoles(ctx context.Context, q querier, g *store.Group) error {
	rows, err := q.Query(ctx, `SELECT role, account FROM group_roles WHERE group_name=$1 ORDER BY role, account`, g.Name)
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
	return s.tx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO groups(`+groupCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7)`, g.Name, unix(g.CreatedAt),
			g.CreatedBy, g.MFARequired, g.IdleLockTimeout, g.IdleKillTimeout, int64(g.GuestTTLLimit/time.Second))
		if isUnique(err) {
			return store.ErrExists
		}
		if err != nil {
			return err
		}
		for role, accts := range g.Roles {
			for _, a := range accts {
				if _, err := tx.Exec(ctx, `INSERT INTO group_roles(group_name, role, account) VALUES ($1,$2,$3)`, g.Name, role, a); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// GetGroup returns a group with its roles.
func (s *Store) GetGroup(ctx context.Context, name string) (store.Group, error) {
	g, err := scanGroup(s.pool.QueryRow(ctx, `SELECT `+groupCols+` FROM groups WHERE name=$1`, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return g, store.ErrNotFound
	}
	if err != nil {
		return g, err
	}
	return g, loadRoles(ctx, s.pool, &g)
}

func (s *Store) listGroups(ctx context.Context, where string, args ...any) ([]store.Group, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+groupCols+` FROM groups `+where+` ORDER BY name`, args...)
	if err != nil {
		return nil, err
	}
	out, err := collect(rows, func(r pgx.CollectableRow) (store.Group, error) { return scanGroup(r) })
	if err != nil {
		return nil, err
	}
	return out, rolesOf(ctx, s.pool, out, where, args...)
}

// ListGroups returns every group, sorted by name.
func (s *Store) ListGroups(ctx context.Context) ([]store.Group, error) { return s.listGroups(ctx, "") }

// GroupsOf returns the groups where account holds a role.
func (s *Store) GroupsOf(ctx context.Context, account string) ([]store.Group, error) {
	return s.listGroups(ctx, `WHERE name IN (SELECT group_name FROM group_roles WHERE account=$1)`, account)
}

// DeleteGroup removes a group, its roles, ACL and keys.
func (s *Store) DeleteGroup(ctx context.Context, name string) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		if err := notFoundIfNone(tx.Exec(ctx, `DELETE FROM groups WHERE name=$1`, name)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM acl_entries WHERE kind IN ('group','guest') AND owner=$1`, name); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM egress_keys WHERE owner_kind='group' AND owner=$1`, name); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM egress_passwords WHERE owner_kind='group' AND owner=$1`, name)
		return err
	})
}

// UpdateGroup applies fn to a group's settings in one transaction, the row locked.
func (s *Store) UpdateGroup(ctx context.Context, name string, fn func(*store.Group) error) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		g, err := scanGroup(tx.QueryRow(ctx, `SELECT `+groupCols+` FROM groups WHERE name=$1 FOR UPDATE`, name))
		if errors.Is(err, pgx.ErrNoRows) {
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
		_, err = tx.Exec(ctx, `UPDATE groups SET mfa_required=$1, idle_lock_timeout=$2, idle_kill_timeout=$3, guest_ttl_limit=$4 WHERE name=$5`,
			g.MFARequired, g.IdleLockTimeout, g.IdleKillTimeout, int64(g.GuestTTLLimit/time.Second), name)
		return err
	})
}

// SetRole adds or removes one role of one account.
func (s *Store) SetRole(ctx context.Context, group, role, account string, on bool) (bool, error) {
	if on {
		return affected(s.pool.Exec(ctx, `INSERT INTO group_roles(group_name, role, account) VALUES ($1,$2,$3) ON CONFLICT DO NOTHING`, group, role, account))
	}
	return affected(s.pool.Exec(ctx, `DELETE FROM group_roles WHERE group_name=$1 AND role=$2 AND account=$3`, group, role, account))
}

const aclCols = `id, kind, owner, account, host, "user", port, comment, expires_at, added_by, added_at, force_key, force_password`

// AddACL inserts an entry; an identical one is ErrExists.
func (s *Store) AddACL(ctx context.Context, e store.ACLEntry) (store.ACLEntry, error) {
	err := s.pool.QueryRow(ctx, `INSERT INTO acl_entries(kind, owner, account, host, "user", port, comment, expires_at, added_by, added_at, force_key, force_password)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12) RETURNING id`, e.Kind, e.Owner, e.Account, e.Host, e.User, e.Port, e.Comment,
		unix(e.ExpiresAt), e.AddedBy, unix(e.AddedAt), e.ForceKey, e.ForcePassword).Scan(&e.ID)
	if isUnique(err) {
		return e, store.ErrExists
	}
	return e, err
}

// DeleteACL removes one entry.
func (s *Store) DeleteACL(ctx context.Context, e store.ACLEntry) error {
	return notFoundIfNone(s.pool.Exec(ctx, `DELETE FROM acl_entries WHERE kind=$1 AND owner=$2 AND account=$3 AND host=$4 AND "user"=$5 AND port=$6`,
		e.Kind, e.Owner, e.Account, e.Host, e.User, e.Port))
}

// ListACL lists entries of one kind and owner; account filters guest entries ("" = all).
func (s *Store) ListACL(ctx context.Context, kind, owner, account string) ([]store.ACLEntry, error) {
	q := `SELECT ` + aclCols + ` FROM acl_entries WHERE kind=$1 AND owner=$2`
	args := []any{kind, owner}
	if account != "" {
		q += ` AND account=$3`
		args = append(args, account)
	}
	return s.queryACL(ctx, q+` ORDER BY id`, args...)
}

// ListACLKind returns every entry of one kind, whatever its owner, in one query (whoHasAccessTo).
// With ip, hosts of digits and dots only other than ip (other IPv4 addresses) are left out;
// prefixes, IPv6 and names are always kept, as the SQLite store does.
func (s *Store) ListACLKind(ctx context.Context, kind, ip string) ([]store.ACLEntry, error) {
	return s.queryACL(ctx, `SELECT `+aclCols+` FROM acl_entries WHERE kind=$1
		AND ($2='' OR host=$2 OR host ~ '[^0-9.]') ORDER BY id`, kind, ip)
}

func (s *Store) queryACL(ctx context.Context, q string, args ...any) ([]store.ACLEntry, error) {
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return collect(rows, func(r pgx.CollectableRow) (store.ACLEntry, error) {
		var e store.ACLEntry
		var exp, added int64
		err := r.Scan(&e.ID, &e.Kind, &e.Owner, &e.Account, &e.Host, &e.User, &e.Port, &e.Comment, &exp, &e.AddedBy, &added, &e.ForceKey, &e.ForcePassword)
		e.ExpiresAt, e.AddedAt = fromUnix(exp), fromUnix(added)
		return e, err
	})
}

// ReplaceACL replaces the whole list of one owner in one transaction.
func (s *Store) ReplaceACL(ctx context.Context, kind, owner string, entries []store.ACLEntry) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM acl_entries WHERE kind=$1 AND owner=$2`, kind, owner); err != nil {
			return err
		}
		for _, e := range entries {
			_, err := tx.Exec(ctx, `INSERT INTO acl_entries(kind, owner, account, host, "user", port, comment, expires_at, added_by, added_at, force_key, force_password)
				VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12) ON CONFLICT DO NOTHING`, kind, owner, e.Account, e.Host, e.User, e.Port, e.Comment,
				unix(e.ExpiresAt), e.AddedBy, unix(e.AddedAt), e.ForceKey, e.ForcePassword)
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// KnownHostKeys returns the keys an account has seen for hostport.
func (s *Store) KnownHostKeys(ctx context.Context, account, hostport string) ([]store.KnownHost, error) {
	rows, err := s.pool.Query(ctx, `SELECT account, hostport, key, added_at FROM known_hosts WHERE account=$1 AND hostport=$2`, account, hostport)
	if err != nil {
		return nil, err
	}
	return collect(rows, func(r pgx.CollectableRow) (store.KnownHost, error) {
		var k store.KnownHost
		var added int64
		err := r.Scan(&k.Account, &k.HostPort, &k.Key, &added)
		k.AddedAt = fromUnix(added)
		return k, err
	})
}

// HasKnownHosts reports whether the account has any recorded host key.
func (s *Store) HasKnownHosts(ctx context.Context, account string) (bool, error) {
	var has bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS(SELECT 1 FROM known_hosts WHERE account=$1)`, account).Scan(&has)
	return has, err
}

// AddKnownHost records a host key (idempotent).
func (s *Store) AddKnownHost(ctx context.Context, k store.KnownHost) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO known_hosts(account, hostport, key, added_at) VALUES ($1,$2,$3,$4) ON CONFLICT DO NOTHING`,
		k.Account, k.HostPort, k.Key, unix(k.AddedAt))
	return err
}

// ForgetHost removes host keys of hostport for one account, or for all when account is "".
func (s *Store) ForgetHost(ctx context.Context, account, hostport string) (int, error) {
	q, args := `DELETE FROM known_hosts WHERE hostport=$1`, []any{hostport}
	if account != "" {
		q, args = q+` AND account=$2`, append(args, account)
	}
	tag, err := s.pool.Exec(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return int(tag.RowsAffected()), nil
}
