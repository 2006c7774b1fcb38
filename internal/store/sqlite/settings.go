package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// BastionSetting returns a bastion-wide setting, "" when unset.
func (s *Store) BastionSetting(ctx context.Context, key string) (string, error) {
	var v string
	err := s.pool().QueryRowContext(ctx, `SELECT value FROM bastion_settings WHERE key=?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return v, err
}

// SetBastionSetting sets (or, with "", removes) a bastion-wide setting.
func (s *Store) SetBastionSetting(ctx context.Context, key, value, by string) error {
	if value == "" {
		_, err := s.pool().ExecContext(ctx, `DELETE FROM bastion_settings WHERE key=?`, key)
		return err
	}
	_, err := s.pool().ExecContext(ctx, `INSERT INTO bastion_settings(key, value, changed_at, changed_by) VALUES (?,?,?,?)
		ON CONFLICT(key) DO UPDATE SET value=excluded.value, changed_at=excluded.changed_at, changed_by=excluded.changed_by`,
		key, value, time.Now().Unix(), by)
	return err
}
