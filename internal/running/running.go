// Package running keeps the sessions that run now, per account identity, so that freezing or
// deleting an account ends them at once instead of at their next line: a relayed shell or a long
// command reads no line, and would otherwise outlive the decision that its account may not work.
//
// Sessions are keyed by the account's immutable id (store.Account.ID), never by its name: ending
// the sessions of an account recreated under a deleted account's name touches only its own.
package running

import (
	"sync"

	"gatehouse/internal/crash"
)

// Registry is safe for concurrent use. Its zero value is not usable: use New.
type Registry struct {
	mu        sync.Mutex
	byAccount map[string]map[*entry]struct{}
}

type entry struct {
	session string
	once    sync.Once
	end     func(reason string, exit int, accountWide bool)
}

// New returns an empty registry.
func New() *Registry { return &Registry{byAccount: map[string]map[*entry]struct{}{}} }

// Add registers a running session (sessionID, its uniqid) of the account accountID. end is
// called at most once, from End or EndSession, with the reason to tell the user, the exit status
// to end with, and whether everything of the account ends (accountWide: End, so what else the
// account has on the same client connection may be ended with it; false from EndSession, which
// must leave the account's other sessions alone); it must return promptly and make the session
// end (cancel it, close its channel). remove unregisters the session; call it when the session
// ends.
func (r *Registry) Add(accountID, sessionID string, end func(reason string, exit int, accountWide bool)) (remove func()) {
	e := &entry{session: sessionID, end: end}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byAccount[accountID] == nil {
		r.byAccount[accountID] = map[*entry]struct{}{}
	}
	r.byAccount[accountID][e] = struct{}{}
	return func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		delete(r.byAccount[accountID], e)
		if len(r.byAccount[accountID]) == 0 {
			delete(r.byAccount, accountID)
		}
	}
}

// End ends every running session of accountID with reason and exit status exit, and returns
// their ids. An empty id ends nothing: an account without an identity cannot be told apart from
// another.
func (r *Registry) End(accountID, reason string, exit int) []string {
	if accountID == "" {
		return nil
	}
	r.mu.Lock()
	var todo []*entry
	for e := range r.byAccount[accountID] {
		todo = append(todo, e)
	}
	r.mu.Unlock()
	// Each session's end on its own goroutine, all waited for: one whose end is slow (its client
	// stopped reading; the end waits a bounded time for it) does not hold the others' ends, so
	// a freeze takes one bound, not one per such session. A panic is carried on to the caller,
	// as when the ends ran on its goroutine.
	ids := make([]string, 0, len(todo))
	var wg sync.WaitGroup
	var mu sync.Mutex
	var panicked *crash.Panic
	for _, e := range todo {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if p := crash.Catch(func() { e.once.Do(func() { e.end(reason, exit, true) }) }); p != nil {
				mu.Lock()
				panicked = p
				mu.Unlock()
			}
		}()
		ids = append(ids, e.session)
	}
	wg.Wait()
	crash.Rethrow(panicked)
	return ids
}

// EndSession ends the running session sessionID of accountID, as End does but alone (its end is
// not account-wide), and reports whether it ran here.
func (r *Registry) EndSession(accountID, sessionID, reason string, exit int) bool {
	r.mu.Lock()
	var found *entry
	for e := range r.byAccount[accountID] {
		if e.session == sessionID {
			found = e
			break
		}
	}
	r.mu.Unlock()
	if found == nil || sessionID == "" {
		return false
	}
	found.once.Do(func() { found.end(reason, exit, false) })
	return true
}

// Count is how many sessions run now (all accounts).
func (r *Registry) Count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range r.byAccount {
		n += len(m)
	}
	return n
}

// Accounts are the identities of the accounts that have sessions running now.
func (r *Registry) Accounts() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := make([]string, 0, len(r.byAccount))
	for id := range r.byAccount {
		ids = append(ids, id)
	}
	return ids
}
