package store

import (
	"errors"
	"time"
)

// SyncedAccount marks an account as managed by a key sync source (internal/keysync). A sync
// changes only the accounts it manages; it unfreezes only those it froze itself.
type SyncedAccount struct {
	Account      string
	Source       string
	FrozenBySync bool
	Since        time.Time
}

// ErrNotManaged is returned when a sync change names an account its source does not manage (any
// more), or an unfreeze names an account the sync did not freeze: an administrator changed it
// meanwhile, and the sync leaves it alone.
var ErrNotManaged = errors.New("store: account not managed by this sync source")
