package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
)

// importFirst are the tables others refer to (foreign keys): copied before the rest.
var importFirst = []string{"accounts", "groups"}

// ImportReport says how many rows of each table ImportSQLite copied.
type ImportReport struct {
	Tables []string
	Rows   map[string]int64
}

// ImportSQLite copies every table of an SQLite store (internal/store/sqlite's DB) into this
// empty PostgreSQL store, row for row: account ids, key ids, sealed secrets, scratch code
// hashes, MFA counters, approvals and nonces included, so nothing is re-created and every id
// stays. It is one transaction: on any error nothing is written. It refuses a store that
// already has accounts, and schemas that differ (run migrate-store with the gatehouse that
// last used the SQLite store).
func (s *Store) ImportSQLite(ctx context.Context, src *sql.DB) (ImportReport, error) {
	rep := ImportReport{Rows: map[string]int64{}}
	var srcVersion int
	if err := src.QueryRowContext(ctx, `SELECT COALESCE(MAX(version),0) FROM schema_migrations`).Scan(&srcVersion); err != nil {
		return rep, fmt.Errorf("read the SQLite schema version: %w", err)
	}
	if srcVersion != len(migrations) {
		return rep, fmt.Errorf("the SQLite store is at schema %d, this gatehouse's PostgreSQL schema at %d: use the same gatehouse version for both", srcVersion, len(migrations))
	}
	tables, err := sqliteTables(ctx, src)
	if err != nil {
		return rep, err
	}
	err = s.tx(ctx, func(tx pgx.Tx) error {
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM accounts`).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return errors.New("the PostgreSQL store already has accounts: migrate-store only fills an empty one")
		}
		for _, t := range tables {
			copied, err := copyTable(ctx, src, tx, t)
			if err != nil {
				return fmt.Errorf("copy %s: %w", t, err)
			}
			rep.Tables, rep.Rows[t] = append(rep.Tables, t), copied
		}
		return nil
	})
	return rep, err
}

// sqliteTables lists the store's tables, the referenced ones first.
func sqliteTables(ctx context.Context, src *sql.DB) ([]string, error) {
	rows, err := src.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type='table'
		AND name NOT LIKE 'sqlite_%' AND name != 'schema_migrations' ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var rest []string
	out := append([]string(nil), importFirst...)
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		if !slices.Contains(importFirst, n) {
			rest = append(rest, n)
		}
	}
	return append(out, rest...), rows.Err()
}

// copyTable copies one table with COPY, converting SQLite's integers to booleans and its text
// to bytes where the PostgreSQL column says so; serial ids continue after the copied ones.
func copyTable(ctx context.Context, src *sql.DB, tx pgx.Tx, table string) (int64, error) {
	types := map[string]string{}
	trows, err := tx.Query(ctx, `SELECT column_name, data_type FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = $1`, table)
	if err != nil {
		return 0, err
	}
	for trows.Next() {
		var c, t string
		if err := trows.Scan(&c, &t); err != nil {
			trows.Close()
			return 0, err
		}
		types[c] = t
	}
	trows.Close()
	if err := trows.Err(); err != nil {
		return 0, err
	}
	if len(types) == 0 {
		return 0, fmt.Errorf("no table %s in the PostgreSQL schema", table)
	}
	rows, err := src.QueryContext(ctx, `SELECT * FROM "`+table+`"`)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return 0, err
	}
	for _, c := range cols {
		if _, ok := types[c]; !ok {
			return 0, fmt.Errorf("column %s.%s has no PostgreSQL counterpart", table, c)
		}
	}
	var data [][]any
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return 0, err
		}
		for i, c := range cols {
			vals[i] = convert(vals[i], types[c])
		}
		data = append(data, vals)
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	n, err := tx.CopyFrom(ctx, pgx.Identifier{table}, cols, pgx.CopyFromRows(data))
	if err != nil {
		return 0, err
	}
	if types["id"] == "bigint" && slices.Contains(cols, "id") {
		if _, err := tx.Exec(ctx, `SELECT setval(pg_get_serial_sequence($1, 'id'), COALESCE(MAX(id), 1), MAX(id) IS NOT NULL) FROM `+
			pgx.Identifier{table}.Sanitize(), table); err != nil {
			return 0, fmt.Errorf("serial ids: %w", err)
		}
	}
	return n, nil
}

func convert(v any, pgType string) any {
	switch pgType {
	case "boolean":
		if i, ok := v.(int64); ok {
			return i != 0
		}
	case "bytea":
		if s, ok := v.(string); ok {
			return []byte(s)
		}
	case "text":
		if b, ok := v.([]byte); ok {
			return string(b)
		}
	}
	return v
}
