// Package sqlite is the embedded store: one SQLite file in the data directory, in WAL mode, opened
// through the pure-Go modernc.org/sqlite driver so the binary needs no C library.
//
// Writes take the database lock at BEGIN (IMMEDIATE) so two read-modify-write transactions never
// deadlock on a lock upgrade; readers never block writers (WAL).
package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gatehouse/internal/store"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Store is the SQLite implementation of store.Store.
type Store struct {
	db *sql.DB
	// stmts are the prepared statements of the store's queries (stmts.go).
	stmts stmtCache
	// migratedFrom and migratedTo are the schema versions before and after Open (equal when
	// nothing was to do), for the start's log line (SchemaMigration).
	migratedFrom, migratedTo int
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the database at path and brings its schema up to date.
func Open(ctx context.Context, path string) (*Store, error) {
	return openWith(ctx, path, migrations)
}

// openWith is Open with the list of migrations to apply (CreateAtVersion applies fewer).
func openWith(ctx context.Context, path string, migrations []string) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create store directory: %w", err)
	}
	dsn := "file:" + path + "?_txlock=immediate&_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)" +
		"&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8) // the prepared statements live on the connections: keep them all
	s := &Store{db: db, stmts: stmtCache{db: db}}
	if err := s.migrate(ctx, migrations); err != nil {
		_ = db.Close() // the migration error is the one to report
		return nil, fmt.Errorf("migrate store %s: %w", path, err)
	}
	// The file holds sealed secrets and account data: only gatehouse reads it.
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if _, err := os.Stat(p); err == nil {
			_ = os.Chmod(p, 0o600)
		}
	}
	return s, nil
}

// DB exposes the handle to the packages that keep their own tables in the same file.
func (s *Store) DB() *sql.DB { return s.db }

// Close closes the database.
func (s *Store) Close() error {
	s.stmts.close()
	return s.db.Close()
}

func (s *Store) migrate(ctx context.Context, migrations []string) error {
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		return err
	}
	var have int
	if err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version),0) FROM schema_migrations`).Scan(&have); err != nil {
		return err
	}
	s.migratedFrom, s.migratedTo = have, have
	if have > len(migrations) {
		return fmt.Errorf("store schema version %d is newer than this gatehouse (%d): upgrade gatehouse", have, len(migrations))
	}
	for v := have + 1; v <= len(migrations); v++ {
		err := s.tx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, migrations[v-1]); err != nil {
				return fmt.Errorf("migration %d: %w", v, err)
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations(version, applied_at) VALUES (?, ?)`, v, time.Now().Unix())
			return err
		})
		if err != nil {
			return err
		}
		s.migratedTo = v
	}
	return nil
}

func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func isUnique(err error) bool {
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}

// CountAccounts returns how many accounts exist.
func (s *Store) CountAccounts(ctx context.Context) (int, error) {
	var n int
	err := s.pool().QueryRowContext(ctx, `SELECT COUNT(*) FROM accounts`).Scan(&n)
	return n, err
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
	return s.tx(ctx, func(tx *sql.Tx) error { return createAccount(ctx, tx, id, a, keys) })
}

// createAccount is CreateAccount's transaction, shared with CreateSyncedAccount (which marks the
// account in the same transaction). The inner block keeps the original body as it was.
func createAccount(ctx context.Context, tx *sql.Tx, id string, a store.Account, keys []store.IngressKey) error {
	{
		_, err := tx.ExecContext(ctx, `INSERT INTO accounts(name, comment, created_at, created_by, expires_at, osh_only,
			always_active, frozen, frozen_reason, max_inactive_days, last_seen_at, id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)`,
			a.Name, a.Comment, unix(a.CreatedAt), a.CreatedBy, unix(a.ExpiresAt), b2i(a.OshOnly), b2i(a.AlwaysActive),
			b2i(a.Frozen), a.FrozenReason, a.MaxInactiveDays, unix(a.LastSeenAt), id)
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
}

func saveGrantsSettings(ctx context.Context, tx *sql.Tx, a store.Account) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM account_grants WHERE account=?`, a.Name); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM account_settings WHERE account=?`, a.Name); err != nil {
		return err
	}
	for _, g := range a.Grants {
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO account_grants(account, command) VALUES (?,?)`, a.Name, g); err != nil {
			return err
		}
	}
	for k, v := range a.Settings {
		if _, err := tx.ExecContext(ctx, `INSERT INTO account_settings(account, key, value) VALUES (?,?,?)`, a.Name, k, v); err != nil {
			return err
		}
	}
	return nil
}

type queryer interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

const accountCols = `name, comment, created_at, created_by, expires_at, osh_only, always_active, frozen,
	frozen_reason, max_inactive_days, last_seen_at, id`

// newAccountID makes an account's immutable id: 128 random bits, so ids are never reused (SQLite
// may reuse a deleted row's rowid).
func newAccountID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("account id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

func scanAccount(sc interface{ Scan(...any) error }) (store.Account, error) {
	var a store.Account
	var created, expires, seen int64
	var osh, always, frozen int
	err := sc.Scan(&a.Name, &a.Comment, &created, &a.CreatedBy, &expires, &osh, &always, &frozen,
		&a.FrozenReason, &a.MaxInactiveDays, &seen, &a.ID)
	a.CreatedAt, a.ExpiresAt, a.LastSeenAt = fromUnix(created), fromUnix(expires), fromUnix(seen)
	a.OshOnly, a.AlwaysActive, a.Frozen = osh == 1, always == 1, frozen == 1
	return a, err
}

func loadAccount(ctx context.Context, q queryer, name string) (store.Account, error) {
	a, err := scanAccount(q.QueryRowContext(ctx, `SELECT `+accountCols+` FROM accounts WHERE name=?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return a, store.ErrNotFound
	}
	if err != nil {
		return a, err
	}
	return a, loadGrantsSettings(ctx, q, &a)
}

func loadGrantsSettings(ctx context.Context, q queryer, a *store.Account) error {
	rows, err := q.QueryContext(ctx, `SELECT command FROM account_grants WHERE account=? ORDER BY command`, a.Name)
	if err != nil {
		return err
	}
	a.Grants = nil
	for rows.Next() {
		var g string
		if err := rows.Scan(&g); err != nil {
			rows.Close()
			return err
		}
		a.Grants = append(a.Grants, g)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	rows, err = q.QueryContext(ctx, `SELECT key, value FROM account_settings WHERE account=?`, a.Name)
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
	return loadAccount(ctx, s.pool(), name)
}

// ListAccounts returns every account, sorted by name.
func (s *Store) ListAccounts(ctx context.Context) ([]store.Account, error) {
	var n int // a capacity hint: 10,000 accounts are not copied again and again as the slice grows
	if err := s.pool().QueryRowContext(ctx, `SELECT COUNT(*) FROM accounts`).Scan(&n); err != nil {
		return nil, err
	}
	rows, err := s.pool().QueryContext(ctx, `SELECT `+listedAccountCols+` FROM accounts ORDER BY name`)
	if err != nil {
		return nil, err
	}
	out := make([]store.Account, 0, n)
	// Each row is scanned into one reused account and its destinations, then copied: a new
	// account (and list of destinations) per row were half of this read's allocations at
	// 10,000 accounts (issue 14).
	var a store.Account
	var packed, expires, seen int64
	dest := []any{&a.Name, &a.Comment, &packed, &a.CreatedBy, &expires, &a.FrozenReason, &a.MaxInactiveDays, &seen, &a.ID}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			rows.Close()
			return nil, err
		}
		setListedAccount(&a, packed, expires, seen)
		out = append(out, a)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, nil
	}
	// Grants and settings of every account in two queries, not two per account (issue 14:
	// accountList at 10,000 accounts).
	byName := make(map[string]*store.Account, len(out))
	for i := range out {
		byName[out[i].Name] = &out[i] // Settings: a map only for an account with settings
	}
	if err := eachRow(ctx, s.pool(), `SELECT account, command, '' FROM account_grants ORDER BY account, command`, func(acct, v, _ string) {
		if a := byName[acct]; a != nil {
			a.Grants = append(a.Grants, v)
		}
	}); err != nil {
		return nil, err
	}
	return out, eachRow(ctx, s.pool(), `SELECT account, key, value FROM account_settings`, func(acct, k, v string) {
		if a := byName[acct]; a != nil {
			if a.Settings == nil {
				a.Settings = map[string]string{}
			}
			a.Settings[k] = v
		}
	})
}

// listedAccountCols are accountCols for ListAccounts, the three flags packed into the low bits
// of the creation time: modernc's SQLite costs per column read, and at 10,000 accounts each
// column is ~1 ms of accountList --audit and accountInfo --all (issue 14).
const listedAccountCols = `name, comment, (created_at << 3) | osh_only | (always_active << 1) | (frozen << 2), created_by,
	expires_at, frozen_reason, max_inactive_days, last_seen_at, id`

// setListedAccount sets a's times and flags from listedAccountCols' packed columns.
func setListedAccount(a *store.Account, packed, expires, seen int64) {
	a.CreatedAt, a.ExpiresAt, a.LastSeenAt = fromUnix(packed>>3), fromUnix(expires), fromUnix(seen)
	a.OshOnly, a.AlwaysActive, a.Frozen = packed&1 != 0, packed&2 != 0, packed&4 != 0
}

// eachRow runs a query of three text columns and calls f for each row.
func eachRow(ctx context.Context, q queryer, query string, f func(a, b, c string)) error {
	rows, err := q.QueryContext(ctx, query)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var a, b, c string
		if err := rows.Scan(&a, &b, &c); err != nil {
			return err
		}
		f(a, b, c)
	}
	return rows.Err()
}

// DeleteAccount removes the account and everything it owns.
func (s *Store) DeleteAccount(ctx context.Context, name string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := s.in(tx).ExecContext(ctx, `DELETE FROM accounts WHERE name=?`, name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrNotFound
		}
		// Nothing the account held may pass to a new account of the same name.
		for _, q := range []string{
			`DELETE FROM egress_keys WHERE owner_kind='account' AND owner=?`,
			`DELETE FROM egress_passwords WHERE owner_kind='account' AND owner=?`,
			`DELETE FROM acl_entries WHERE (kind='personal' AND owner=?1) OR (kind='guest' AND account=?1)`,
			`DELETE FROM known_hosts WHERE account=?`,
			// A lock state would pass to a new account of the same name (and stay forever).
			`DELETE FROM session_locks WHERE account=?`,
		} {
			if _, err := s.in(tx).ExecContext(ctx, q, name); err != nil {
				return err
			}
		}
		return nil
	})
}

// UpdateAccount applies fn to the stored account inside one transaction.
func (s *Store) UpdateAccount(ctx context.Context, name string, fn func(*store.Account) error) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		a, err := loadAccount(ctx, tx, name)
		if err != nil {
			return err
		}
		if err := fn(&a); err != nil {
			return err
		}
		a.Name = name // the key never changes through an update
		_, err = s.in(tx).ExecContext(ctx, `UPDATE accounts SET comment=?, expires_at=?, osh_only=?, always_active=?, frozen=?,
			frozen_reason=?, max_inactive_days=?, last_seen_at=? WHERE name=?`,
			a.Comment, unix(a.ExpiresAt), b2i(a.OshOnly), b2i(a.AlwaysActive), b2i(a.Frozen), a.FrozenReason,
			a.MaxInactiveDays, unix(a.LastSeenAt), name)
		if err != nil {
			return err
		}
		return saveGrantsSettings(ctx, tx, a)
	})
}

// TouchAccount records the time of a successful login.
func (s *Store) TouchAccount(ctx context.Context, name string, at time.Time) error {
	_, err := s.pool().ExecContext(ctx, `UPDATE accounts SET last_seen_at=? WHERE name=?`, at.Unix(), name)
	return err
}
