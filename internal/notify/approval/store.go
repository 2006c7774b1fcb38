package approval

import (
	"context"
	"slices"
	"sync"
	"time"
)

// Store keeps approval requests. MemStore is the in-memory implementation;
// an SQL one must keep the same atomicity (see Finish).
type Store interface {
	// Create stores a new Pending record; the ID is unique.
	Create(ctx context.Context, rec Record) error
	// Get returns the record, or ErrNotFound.
	Get(ctx context.Context, id string) (Record, error)
	// Finish moves a Pending record to state (Approved, Denied or Expired),
	// recording by and at, in one atomic step, and returns the new record.
	// Approved and Denied are refused when at is not before rec.Expires.
	// In SQL:
	//   UPDATE approvals SET state=?, by_account=?, by_via=?, by_chat=?, decided_at=?
	//   WHERE id=? AND state='pending' AND (?='expired' OR expires > ?)
	// and, when no row changed, read the record to tell ErrNotFound,
	// ErrDecided or ErrExpired (returning the current record with the last two).
	Finish(ctx context.Context, id string, state State, by Approver, at time.Time) (Record, error)
	// Remember records key until the given time and reports whether it was
	// new; false means a replay. (SQL: INSERT … ON CONFLICT DO NOTHING, and
	// delete rows whose until has passed.)
	Remember(ctx context.Context, key string, until time.Time) (bool, error)
}

// MemStore is a Store in memory, for one node. Records are forgotten
// retention after they expire.
type MemStore struct {
	now       func() time.Time
	retention time.Duration

	mu      sync.Mutex
	records map[string]Record
	seen    map[string]time.Time
}

// NewMemStore returns an empty store; now may be nil (time.Now).
func NewMemStore(now func() time.Time) *MemStore {
	if now == nil {
		now = time.Now
	}
	return &MemStore{now: now, retention: 10 * time.Minute, records: map[string]Record{}, seen: map[string]time.Time{}}
}

func (s *MemStore) Create(_ context.Context, rec Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.prune()
	if _, ok := s.records[rec.ID]; ok {
		return ErrDuplicate
	}
	rec.Approvers = slices.Clone(rec.Approvers)
	s.records[rec.ID] = rec
	return nil
}

func (s *MemStore) Get(_ context.Context, id string) (Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.records[id]
	if !ok {
		return Record{}, ErrNotFound
	}
	rec.Approvers = slices.Clone(rec.Approvers)
	return rec, nil
}

func (s *MemStore) Finish(_ context.Context, id string, state State, by Approver, at time.Time) (Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.records[id]
	switch {
	case !ok:
		return Record{}, ErrNotFound
	case rec.State == Expired:
		return rec, ErrExpired
	case rec.State != Pending:
		return rec, ErrDecided
	case state != Expired && !at.Before(rec.Expires):
		return rec, ErrExpired
	case state != Approved && state != Denied && state != Expired:
		return rec, ErrBadState
	}
	rec.State, rec.DecidedBy, rec.DecidedAt = state, by, at
	s.records[id] = rec
	rec.Approvers = slices.Clone(rec.Approvers)
	return rec, nil
}

func (s *MemStore) Remember(_ context.Context, key string, until time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.prune()
	if t, ok := s.seen[key]; ok && s.now().Before(t) {
		return false, nil
	}
	s.seen[key] = until
	return true, nil
}

// prune forgets records long expired and remembered keys past their time,
// so the store stays bounded by the rate of logins.
func (s *MemStore) prune() {
	now := s.now()
	for id, rec := range s.records {
		if now.Sub(rec.Expires) > s.retention {
			delete(s.records, id)
		}
	}
	for k, until := range s.seen {
		if !now.Before(until) {
			delete(s.seen, k)
		}
	}
}

// Len reports how many records the store holds (for tests and metrics).
func (s *MemStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.records)
}
