// Package postgres is the store for several gatehouse nodes: the same contracts as
// internal/store/sqlite, kept in one PostgreSQL database that every node shares (pgx, pgxpool).
//
// Every compare-and-set the login path relies on (TOTP step, scratch codes, approvals, nonces)
// is one statement whose WHERE clause PostgreSQL re-checks on the row's latest version, so two
// nodes racing on the same code cannot both win. Read-modify-write methods lock their row
// (SELECT … FOR UPDATE) for the length of their transaction.
package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"gatehouse/internal/store"
)

// Store is the PostgreSQL implementation of store.Store.
type Store struct {
	pool *pgxpool.Pool
	// node names this gatehouse in the sessions it opens; MarkInterrupted closes only its own.
	node string
	// nodeLock holds the advisory lock on the node's name while the store is open.
	nodeLock *pgx.Conn
}

var _ store.Store = (*Store)(nil)

// IsDSN reports whether s names a PostgreSQL database rather than a data directory.
func IsDSN(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// lockMigrate and lockBootstrap are the advisory lock keys (pg_advisory_lock) that serialise
// nodes starting on the same database: one migrates, one creates the first admin.
const (
	lockMigrate   int64 = 0x6761746568_01
	lockBootstrap int64 = 0x6761746568_02
)

// Open connects to the database named by dsn and brings its schema up to date. A node that
// cannot reach the database fails here, before it listens.
func Open(ctx context.Context, dsn string) (*Store, error) { return OpenNode(ctx, dsn, "") }

// OpenNode is Open for the node called node: the sessions it opens carry that name, and at
// start-up it marks only its own leftover sessions interrupted (the other nodes' are alive).
func OpenNode(ctx context.Context, dsn, node string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// The DSN may hold a password: say what is wrong without echoing it.
		return nil, errors.New("store: the PostgreSQL address does not parse (postgres://USER:PASSWORD@HOST:PORT/DB?sslmode=…)")
	}
	if cfg.ConnConfig.ConnectTimeout == 0 || cfg.ConnConfig.ConnectTimeout > 5*time.Second {
		// While PostgreSQL is down, logins must be refused quickly, not hang.
		cfg.ConnConfig.ConnectTimeout = 3 * time.Second
	}
	if cfg.MaxConns < 8 {
		cfg.MaxConns = 16
	}
	cfg.HealthCheckPeriod = 5 * time.Second
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: connect to PostgreSQL %s: %w", cfg.ConnConfig.Host, err)
	}
	s := &Store{pool: pool, node: node}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: PostgreSQL at %s:%d does not answer: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, err)
	}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("migrate PostgreSQL store: %w", err)
	}
	if node != "" {
		if err := s.claimNode(ctx); err != nil {
			pool.Close()
			return nil, err
		}
	}
	return s, nil
}

// claimNode holds a session advisory lock on the node's name for as long as the store is open,
// so that a second node started under the same name is refused: it would otherwise mark the
// first one's live sessions interrupted and mix the two in the session list. The lock goes with
// the connection (a node that dies frees its name at once).
func (s *Store) claimNode(ctx context.Context) error {
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	conn := c.Hijack()
	var got bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(hashtext('gatehouse node ' || $1))`, s.node).Scan(&got); err != nil {
		_ = conn.Close(ctx) // the query error is the one to report
		return fmt.Errorf("store: claim the node name: %w", err)
	}
	if !got {
		_ = conn.Close(ctx) // the name conflict is the error to report
		return fmt.Errorf("store: another node named %q is connected to this store: give each node its own name (--node, or node in the configuration)", s.node)
	}
	s.nodeLock = conn
	return nil
}

// Pool exposes the pool to migrate-store and the tests.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Close closes the pool (and frees the node's name).
func (s *Store) Close() error {
	if s.nodeLock != nil {
		_ = s.nodeLock.Close(context.Background()) // closing frees the advisory lock either way (the session ends)
	}
	s.pool.Close()
	return nil
}

// SchemaVersion is the number of migrations this gatehouse knows.
func SchemaVersion() int { return len(migrations) }

func (s *Store) migrate(ctx context.Context) error {
	// Nodes starting together: the advisory lock lets one migrate while the others wait, then
	// they find the schema up to date.
	return s.WithLock(ctx, lockMigrate, func(ctx context.Context) error {
		if _, err := s.pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
			return err
		}
		var have int
		if err := s.pool.QueryRow(ctx, `SELECT COALESCE(MAX(version),0) FROM schema_migrations`).Scan(&have); err != nil {
			return err
		}
		if have > len(migrations) {
			return fmt.Errorf("store schema version %d is newer than this gatehouse (%d): upgrade gatehouse", have, len(migrations))
		}
		for v := have + 1; v <= len(migrations); v++ {
			err := s.tx(ctx, func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, migrations[v-1]); err != nil {
					return fmt.Errorf("migration %d: %w", v, err)
				}
				_, err := tx.Exec(ctx, `INSERT INTO schema_migrations(version, applied_at) VALUES ($1, $2)`, v, time.Now().Unix())
				return err
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// WithLock runs fn while this node holds the database-wide advisory lock key, so that nodes
// starting together on an empty database agree (one first admin, one set of host keys).
func (s *Store) WithLock(ctx context.Context, key int64, fn func(context.Context) error) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, key); err != nil {
		return fmt.Errorf("store: advisory lock: %w", err)
	}
	defer func() {
		// A failed unlock (connection lost) releases the lock anyway: it dies with the session.
		_, _ = conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, key)
	}()
	return fn(ctx)
}

// Bootstrap runs fn under the bootstrap lock: app.CreateFirstAdmin and the host keys go
// through it so two nodes started at once on an empty database make one of each.
func (s *Store) Bootstrap(ctx context.Context, fn func(context.Context) error) error {
	return s.WithLock(ctx, lockBootstrap, fn)
}

func (s *Store) tx(ctx context.Context, fn func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, s.pool, fn)
}

type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func isUnique(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// affected turns a command tag into "did this statement change a row".
func affected(tag pgconn.CommandTag, err error) (bool, error) {
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() > 0, nil
}

func notFoundIfNone(tag pgconn.CommandTag, err error) error {
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return store.ErrNotFound
	}
	return nil
}

// CountAccounts returns how many accounts exist.
func (s *Store) CountAccounts(ctx context.Context) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT COUNT(*) FROM accounts`).Scan(&n)
	return n, err
}

// newAccountID makes an account's immutable id: 128 random bits, never reused.
func newAccountID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("account id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// CreateAccount inserts the account with its grants, settings and first ingress keys.
func (s *Store) CreateAccount(ctx context.Context, a store.Account, keys []store.IngressKey) error {
	if a.Name == "" {
		return errors.New("store: empty account name")
	}
	// The id is always the store's own: a caller cannot make an account take another's identity.
	id, err := newAccountID()
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx pgx.Tx) error { return createAccount(ctx, tx, id, a, keys) })
}

// createAccount inserts the account under id, with its grants, settings and keys, inside tx.
func createAccount(ctx context.Context, tx pgx.Tx, id string, a store.Account, keys []store.IngressKey) error {
	_, err := tx.Exec(ctx, `INSERT INTO accounts(`+accountCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)`,
		a.Name, a.Comment, unix(a.CreatedAt), a.CreatedBy, unix(a.ExpiresAt), a.OshOnly, a.AlwaysActive,
		a.Frozen, a.FrozenReason, a.MaxInactiveDays, unix(a.LastSeenAt), id)
	if isUnique(err) {
		return store.ErrExists
	}
	if err != nil {
		return err
	}
	if err := saveGrantsSettings(ctx, tx, a); err != nil {
		return err
	}
	for _, k := range keys {
		k.Account = a.Name
		if _, err := insertIngressKey(ctx, tx, k); err != nil {
			return err
		}
	}
	return nil
}

func saveGrantsSettings(ctx context.Context, tx pgx.Tx, a store.Account) error {
	if _, err := tx.Exec(ctx, `DELETE FROM account_grants WHERE account=$1`, a.Name); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM account_settings WHERE account=$1`, a.Name); err != nil {
		return err
	}
	for _, g := range a.Grants {
		if _, err := tx.Exec(ctx, `INSERT INTO account_grants(account, command) VALUES ($1,$2) ON CONFLICT DO NOTHING`, a.Name, g); err != nil {
			return err
		}
	}
	for k, v := range a.Settings {
		if _, err := tx.Exec(ctx, `INSERT INTO account_settings(account, key, value) VALUES ($1,$2,$3)`, a.Name, k, v); err != nil {
			return err
		}
	}
	return nil
}

const accountCols = `name, comment, created_at, created_by, expires_at, osh_only, always_active, frozen,
	frozen_reason, max_inactive_days, last_seen_at, id`

func scanAccount(sc pgx.Row) (store.Account, error) {
	var a store.Account
	var created, expires, seen int64
	err := sc.Scan(&a.Name, &a.Comment, &created, &a.CreatedBy, &expires, &a.OshOnly, &a.AlwaysActive, &a.Frozen,
		&a.FrozenReason, &a.MaxInactiveDays, &seen, &a.ID)
	a.CreatedAt, a.ExpiresAt, a.LastSeenAt = fromUnix(created), fromUnix(expires), fromUnix(seen)
	return a, err
}

// loadAccount reads one account; suffix is "" or " FOR UPDATE" (inside a transaction).
func loadAccount(ctx context.Context, q querier, name, suffix string) (store.Account, error) {
	a, err := scanAccount(q.QueryRow(ctx, `SELECT `+accountCols+` FROM accounts WHERE name=$1`+suffix, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return a, store.ErrNotFound
	}
	if err != nil {
		return a, err
	}
	return a, loadGrantsSettings(ctx, q, &a)
}

func loadGrantsSettings(ctx context.Context, q querier, a *store.Account) error {
	rows, err := q.Query(ctx, `SELECT command FROM account_grants WHERE account=$1 ORDER BY command`, a.Name)
	if err != nil {
		return err
	}
	grants, err := collect(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	a.Grants = grants
	rows, err = q.Query(ctx, `SELECT key, value FROM account_settings WHERE account=$1`, a.Name)
	if err != nil {
		return err
	}
	defer rows.Close()
	a.Settings = map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return err
		}
		a.Settings[k] = v
	}
	return rows.Err()
}

// GetAccount returns the named account with its grants and settings.
func (s *Store) GetAccount(ctx context.Context, name string) (store.Account, error) {
	return loadAccount(ctx, s.pool, name, "")
}

// ListAccounts returns every account, sorted by name.
func (s *Store) ListAccounts(ctx context.Context) ([]store.Account, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+accountCols+` FROM accounts ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	// Each row is scanned into one reused account and its destinations, then copied (a new
	// account and list of destinations per row were most of this read's allocations at 10,000
	// accounts, issue 14).
	var out []store.Account
	var a store.Account
	var created, expires, seen int64
	dest := []any{&a.Name, &a.Comment, &created, &a.CreatedBy, &expires, &a.OshOnly, &a.AlwaysActive, &a.Frozen,
		&a.FrozenReason, &a.MaxInactiveDays, &seen, &a.ID}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		a.CreatedAt, a.ExpiresAt, a.LastSeenAt = fromUnix(created), fromUnix(expires), fromUnix(seen)
		out = append(grow(out), a)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, grantsSettingsOf(ctx, s.pool, out)
}

// DeleteAccount removes the account and everything it owns.
func (s *Store) DeleteAccount(ctx context.Context, name string) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		if err := notFoundIfNone(tx.Exec(ctx, `DELETE FROM accounts WHERE name=$1`, name)); err != nil {
			return err
		}
		// Nothing the account held may pass to a new account of the same name.
		for _, q := range []string{
			`DELETE FROM egress_keys WHERE owner_kind='account' AND owner=$1`,
			`DELETE FROM egress_passwords WHERE owner_kind='account' AND owner=$1`,
			`DELETE FROM acl_entries WHERE (kind='personal' AND owner=$1) OR (kind='guest' AND account=$1)`,
			`DELETE FROM known_hosts WHERE account=$1`,
			// A lock state would pass to a new account of the same name (and stay forever).
			`DELETE FROM session_locks WHERE account=$1`,
		} {
			if _, err := tx.Exec(ctx, q, name); err != nil {
				return err
			}
		}
		return nil
	})
}

// UpdateAccount applies fn to the stored account inside one transaction, the row locked.
func (s *Store) UpdateAccount(ctx context.Context, name string, fn func(*store.Account) error) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		a, err := loadAccount(ctx, tx, name, " FOR UPDATE")
		if err != nil {
			return err
		}
		if err := fn(&a); err != nil {
			return err
		}
		a.Name = name // the key never changes through an update
		_, err = tx.Exec(ctx, `UPDATE accounts SET comment=$1, expires_at=$2, osh_only=$3, always_active=$4, frozen=$5,
			frozen_reason=$6, max_inactive_days=$7, last_seen_at=$8 WHERE name=$9`,
			a.Comment, unix(a.ExpiresAt), a.OshOnly, a.AlwaysActive, a.Frozen, a.FrozenReason,
			a.MaxInactiveDays, unix(a.LastSeenAt), name)
		if err != nil {
			return err
		}
		return saveGrantsSettings(ctx, tx, a)
	})
}

// TouchAccount records the time of a successful login.
func (s *Store) TouchAccount(ctx context.Context, name string, at time.Time) error {
	_, err := s.pool.Exec(ctx, `UPDATE accounts SET last_seen_at=$1 WHERE name=$2`, at.Unix(), name)
	return err
}

// BastionSetting returns a bastion-wide setting, "" when unset.
func (s *Store) BastionSetting(ctx context.Context, key string) (string, error) {
	var v string
	err := s.pool.QueryRow(ctx, `SELECT value FROM bastion_settings WHERE key=$1`, key).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return v, err
}

// SetBastionSetting sets (or, with "", removes) a bastion-wide setting.
func (s *Store) SetBastionSetting(ctx context.Context, key, value, by string) error {
	if value == "" {
		_, err := s.pool.Exec(ctx, `DELETE FROM bastion_settings WHERE key=$1`, key)
		return err
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO bastion_settings(key, value, changed_at, changed_by) VALUES ($1,$2,$3,$4)
		ON CONFLICT(key) DO UPDATE SET value=excluded.value, changed_at=excluded.changed_at, changed_by=excluded.changed_by`,
		key, value, time.Now().Unix(), by)
	return err
}

// collect is pgx.CollectRows that returns nil for no rows, as the SQLite store does (callers
// rendering JSON see the same null).
func collect[T any](rows pgx.Rows, fn pgx.RowToFunc[T]) ([]T, error) {
	out, err := pgx.CollectRows(rows, fn)
	if len(out) == 0 {
		out = nil
	}
	return out, err
}
