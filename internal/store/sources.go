package store

import (
	"context"
	"time"
)

// SourcePenalty is what the nodes share about one source address (internal/ingress's per-source
// penalties, as sshd's PerSourcePenalties): a source that keeps failing on node A is refused by
// node B too. The count of unauthenticated connections a source holds stays per node.
type SourcePenalty struct {
	Until   time.Time // what the source owes runs out then
	Active  bool      // the penalty is in force until Until
	Strikes int       // connections in a row that ended unauthenticated, on any node
	Last    time.Time // the last of them
}

// SourcePenalties is the part of the store that keeps the shared per-source penalties.
type SourcePenalties interface {
	// SourcePenalty returns the source's state (the zero value when none is kept).
	SourcePenalty(ctx context.Context, source string) (SourcePenalty, error)
	// UpdateSourcePenalty loads the source's state (zero when absent), calls fn and, in the same
	// transaction, saves what fn left, or forgets the source when fn returns false: two nodes
	// ending connections of one source at once both count.
	UpdateSourcePenalty(ctx context.Context, source string, fn func(*SourcePenalty) (keep bool)) error
	// ForgetSourcePenalties removes the states whose penalty and last failure are both before t.
	ForgetSourcePenalties(ctx context.Context, before time.Time) (int, error)
}
