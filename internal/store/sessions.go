package store

import (
	"context"
	"time"
)

// Session is one SSH session channel as the bastion saw it: an --osh command, the interactive
// mode, or a connection to a target. Rows are written when the session opens and completed when
// it ends; a row still open at start-up belonged to a gatehouse that died and is marked
// interrupted.
type Session struct {
	ID          string // the recording id (uniqid): links the row, the recording and the audit log
	Account     string
	AccountID   string // the account's immutable id (store.Account.ID); "" for rows of unknown owner
	Kind        string // "osh", "interactive", "ssh"
	Plugin      string // the --osh command, if any
	Params      string // the masked command line
	Allowed     bool
	IPFrom      string
	PortFrom    int
	IPBastion   string
	PortBastion int
	User        string // target user
	Host        string // target as typed
	IPTo        string
	PortTo      int
	StartedAt   time.Time
	EndedAt     time.Time // zero while open
	ExitStatus  int
	Status      string // "open", "closed", "interrupted"
	Recording   string // path of the recording file
	SHA256      string
	Size        int64
	BytesIn     int64
	BytesOut    int64
	Comment     string
	// Node is the gatehouse node that ran the session (several nodes sharing a PostgreSQL
	// store); "" with the single-node SQLite store.
	Node string
}

// SessionFilter selects sessions; zero fields do not filter.
type SessionFilter struct {
	Account       string
	AccountID     string // the owner's immutable id: an account's own sessions
	ID            string
	Kind          string
	Host          string // matches Host or IPTo
	User          string
	After, Before time.Time
	Allowed       *bool
	Limit         int // 0: 100
}

// Sessions is the part of the store that lists sessions.
type Sessions interface {
	OpenSession(ctx context.Context, s Session) error
	// CloseSession loads the session, lets fn complete it, and saves it.
	CloseSession(ctx context.Context, id string, fn func(*Session)) error
	ListSessions(ctx context.Context, f SessionFilter) ([]Session, error)
	// MarkInterrupted closes every session still open (a previous run died) and returns them.
	MarkInterrupted(ctx context.Context, at time.Time) ([]Session, error)
}
