// Package storecol is how both SQL stores (internal/store/sqlite and internal/store/postgres)
// write Go values into their columns, so that a row reads the same from either and
// migrate-store copies columns as they are.
package storecol

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"gatehouse/internal/store"
)

// Unix is t in unix seconds, 0 for the zero time (a column that was never set).
func Unix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

// FromUnix is the inverse of Unix, in UTC.
func FromUnix(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.Unix(v, 0).UTC()
}

// UnixNano is t in unix nanoseconds, 0 for the zero time.
func UnixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// FromUnixNano is the inverse of UnixNano, in UTC.
func FromUnixNano(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.Unix(0, v).UTC()
}

// FormatTries keeps the times of failed tries (MFA limits) as unix nanoseconds separated by
// commas: a handful per row.
func FormatTries(ts []time.Time) string {
	parts := make([]string, len(ts))
	for i, t := range ts {
		parts[i] = strconv.FormatInt(t.UnixNano(), 10)
	}
	return strings.Join(parts, ",")
}

// ParseTries is the inverse of FormatTries; a column it cannot read is an error, never a
// shorter list (the tries are what a lockout counts).
func ParseTries(s string) ([]time.Time, error) {
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(s, ",")
	out := make([]time.Time, 0, len(parts))
	for _, p := range parts {
		n, err := strconv.ParseInt(p, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("corrupt try time %q", p)
		}
		out = append(out, time.Unix(0, n))
	}
	return out, nil
}

// EncodeMFASource is how both stores keep a source's MFA throttling state: the tries as
// FormatTries, the per-account counts as a JSON object, the last try in unix nanoseconds.
func EncodeMFASource(st store.MFASourceState) (tries, counted string, seen int64) {
	m := st.Counted
	if m == nil {
		m = map[string]int{}
	}
	b, _ := json.Marshal(m) // a map of strings to ints always encodes
	return FormatTries(st.Tries), string(b), UnixNano(st.Seen)
}

// DecodeMFASource is the inverse of EncodeMFASource. A column it cannot read is an error, never
// a laxer state (the counts are what keeps one source from locking an account).
func DecodeMFASource(tries, counted string, seen int64) (store.MFASourceState, error) {
	var st store.MFASourceState
	var err error
	if st.Tries, err = ParseTries(tries); err != nil {
		return st, err
	}
	if counted != "" {
		if err := json.Unmarshal([]byte(counted), &st.Counted); err != nil {
			return st, fmt.Errorf("corrupt per-account counts: %w", err)
		}
	}
	for a, n := range st.Counted {
		if n < 0 {
			return st, fmt.Errorf("corrupt per-account count %d for %q", n, a)
		}
	}
	if len(st.Counted) == 0 {
		st.Counted = nil
	}
	st.Seen = FromUnixNano(seen)
	return st, nil
}

// Rows is what both drivers' result sets offer (database/sql's *Rows and pgx.Rows).
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// RolesByAccount reads rows of (account, group, role) into each account's groups and its roles
// in each, sorted here: the database's collation may not be Go's order, and sorting in SQLite
// cost more than reading the rows (12,000 at 10,000 accounts).
func RolesByAccount(rows Rows) (map[string][]store.GroupRoles, error) {
	out := map[string][]store.GroupRoles{}
	// One role in a group is the common case: its list is one shared per role name (full, so
	// that an append copies it), not one allocation per row (issue 14: 12,000 rows).
	one := map[string][]string{}
	var a, g, r string // scanned into, row after row: one allocation for all
	for rows.Next() {
		if err := rows.Scan(&a, &g, &r); err != nil {
			return nil, err
		}
		groups := out[a]
		// The account's groups are few but for a handful of accounts: a search from the end,
		// where the rows of one group usually follow each other.
		k := len(groups) - 1
		for k >= 0 && groups[k].Group != g {
			k--
		}
		if k >= 0 {
			roles := groups[k].Roles
			groups[k].Roles = append(roles[:len(roles):len(roles)], r)
			continue
		}
		shared, ok := one[r]
		if !ok {
			shared = []string{r}
			one[r] = shared
		}
		out[a] = append(groups, store.GroupRoles{Group: g, Roles: shared[:1:1]})
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, groups := range out {
		for _, gr := range groups {
			slices.Sort(gr.Roles)
		}
	}
	return out, nil
}
