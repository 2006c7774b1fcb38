package store

import "time"

// SyncedAccount marks an account as managed by a key sync source (internal/keysync). A sync
// changes only the accounts it manages; it unfreezes only those it froze itself.
type SyncedAccount struct {
	Account      string
	Source       string
	FrozenBySync bool
	Since        time.Time
}
