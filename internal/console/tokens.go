package console

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"sync"
	"time"
)

// Identity is who a login token or a console session stands for: the account by its immutable
// id (a later account under the same name is someone else) and the factors its SSH session proved.
type Identity struct {
	AccountID string
	Account   string
	Factors   []string
}

// LoginTTL is how long a webLogin URL stays valid.
const LoginTTL = 60 * time.Second

type entry struct {
	id      Identity
	expires time.Time
	csrf    string // console sessions only
}

// table holds secrets by their SHA-256 only, so a memory dump or a log of the map never gives
// a usable token. It is per node: a webLogin URL must be opened on the node that printed it, and a
// console session lives on the node that opened it (docs/web.md).
type table struct {
	mu sync.Mutex
	m  map[[32]byte]entry
}

func newTable() *table { return &table{m: map[[32]byte]entry{}} }

func newSecret() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("console: no randomness: " + err.Error()) // crypto/rand never fails on Linux
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func (t *table) put(secret string, e entry, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, v := range t.m { // expired entries go on each write: the table stays small
		if !now.Before(v.expires) {
			delete(t.m, k)
		}
	}
	t.m[sha256.Sum256([]byte(secret))] = e
}

// take removes and returns the entry: a login token is good once, even when it was expired.
func (t *table) take(secret string, now time.Time) (entry, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := sha256.Sum256([]byte(secret))
	e, ok := t.m[k]
	delete(t.m, k)
	return e, ok && now.Before(e.expires)
}

// get returns a live entry and leaves it in place.
func (t *table) get(secret string, now time.Time) (entry, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := sha256.Sum256([]byte(secret))
	e, ok := t.m[k]
	if ok && !now.Before(e.expires) {
		delete(t.m, k)
		return entry{}, false
	}
	return e, ok
}

func (t *table) drop(secret string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.m, sha256.Sum256([]byte(secret)))
}
