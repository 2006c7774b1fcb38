package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Publish sends payload to every node listening on channel (pg_notify: delivered when the
// sending transaction commits, to every session LISTENing at that moment).
func (s *Store) Publish(ctx context.Context, channel, payload string) error {
	if _, err := s.pool.Exec(ctx, `SELECT pg_notify($1, $2)`, channel, payload); err != nil {
		return fmt.Errorf("notify %s: %w", channel, err)
	}
	return nil
}

// Listen calls fn with each payload sent on channel until ctx ends. It holds one connection of
// its own and comes back after the database does. A notification sent while it was away is
// lost: ready is called each time the LISTEN is in place, lost each time the connection is lost,
// so that the caller re-reads from the store what it may have missed (the senders' own node
// already acted, and the store holds the state).
func (s *Store) Listen(ctx context.Context, channel string, ready func(), lost func(error), fn func(payload string)) error {
	backoff := 100 * time.Millisecond
	for {
		err := s.listenOnce(ctx, channel, ready, fn)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if lost != nil {
			lost(err)
		}
		if err == nil {
			backoff = 100 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

func (s *Store) listenOnce(ctx context.Context, channel string, ready func(), fn func(payload string)) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// The connection is LISTENing: never hand it back to the pool.
	// A failed close only drops a connection the pool no longer owns.
	defer func() { _ = conn.Hijack().Close(context.Background()) }()
	if _, err := conn.Exec(ctx, `LISTEN `+pgx.Identifier{channel}.Sanitize()); err != nil {
		return err
	}
	if ready != nil {
		ready()
	}
	for {
		n, err := conn.Conn().WaitForNotification(ctx)
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		}
		fn(n.Payload)
	}
}
