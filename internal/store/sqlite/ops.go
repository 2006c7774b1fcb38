package sqlite

import (
	"context"
	"fmt"
	"time"
)

// SchemaMigration says which schema version the store had when opened and which it has now,
// so that the start can log an upgrade (from < to) with both versions.
func (s *Store) SchemaMigration() (from, to int) { return s.migratedFrom, s.migratedTo }

// SchemaVersion is the schema version this gatehouse brings a store to.
func SchemaVersion() int { return len(migrations) }

// CountPendingApprovals counts approval requests still waiting for a decision at now, for
// the gatehouse_approvals_pending gauge.
func (s *Store) CountPendingApprovals(ctx context.Context, now time.Time) (int, error) {
	var n int
	err := s.pool().QueryRowContext(ctx, `SELECT COUNT(*) FROM approval_requests WHERE state = 'pending' AND expires_at > ?`, unixNano(now)).Scan(&n)
	return n, err
}

// CountMFALockedAccounts counts accounts with at least one factor locked after repeated
// failures, for the gatehouse_mfa_locked_accounts gauge: locks set at or after since (the ones
// whose unlock time has not passed; the zero time counts every lock), and those that last until
// accountUnlock.
func (s *Store) CountMFALockedAccounts(ctx context.Context, since time.Time) (int, error) {
	var n int
	err := s.pool().QueryRowContext(ctx, `SELECT COUNT(DISTINCT account) FROM mfa_limits WHERE locked = 1 AND (locked_at = 0 OR locked_at >= ?)`,
		unixNanoOrZero(since)).Scan(&n)
	return n, err
}

// CreateAtVersion makes a new store at path with only the first version migrations applied, as
// an older gatehouse left it: upgrade tests open it with this one.
func CreateAtVersion(ctx context.Context, path string, version int) error {
	if version < 1 || version > len(migrations) {
		return fmt.Errorf("schema version %d: want 1 to %d", version, len(migrations))
	}
	s, err := openWith(ctx, path, migrations[:version])
	if err != nil {
		return err
	}
	return s.Close()
}
