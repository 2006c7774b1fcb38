package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"gatehouse/internal/store"
)

// TestMigrationGivesIdentities: a store made before account ids gets one per account, and its
// sessions go to the account of their name only when they started after its creation; older
// rows belonged to a deleted namesake and stay without owner.
func TestMigrationGivesIdentities(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	const before = 6 // the last migration without ids
	for v := 1; v <= before; v++ {
		if _, err := db.Exec(migrations[v-1]); err != nil {
			t.Fatalf("migration %d: %v", v, err)
		}
		if _, err := db.Exec(`INSERT INTO schema_migrations VALUES (?, 0)`, v); err != nil {
			t.Fatal(err)
		}
	}
	created := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	for _, name := range []string{"bob", "carol"} {
		if _, err := db.Exec(`INSERT INTO accounts(name, created_at) VALUES (?, ?)`, name, created.Unix()); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []struct {
		id, account string
		at          time.Time
	}{
		{"before-bob", "bob", created.Add(-time.Hour)}, // a deleted bob's
		{"after-bob", "bob", created.Add(time.Hour)},
		{"same-second", "carol", created},
		{"gone", "dave", created}, // no account of that name now
	} {
		if _, err := db.Exec(`INSERT INTO sessions(id, account, kind, started_at) VALUES (?, ?, 'osh', ?)`, s.id, s.account, s.at.UnixNano()); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	s := open(t, path)
	bob, err := s.GetAccount(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	carol, _ := s.GetAccount(ctx, "carol")
	if len(bob.ID) != 32 || len(carol.ID) != 32 || bob.ID == carol.ID {
		t.Fatalf("ids %q %q", bob.ID, carol.ID)
	}
	want := map[string]string{"before-bob": "", "after-bob": bob.ID, "same-second": carol.ID, "gone": ""}
	all, err := s.ListSessions(ctx, store.SessionFilter{})
	if err != nil || len(all) != len(want) {
		t.Fatalf("sessions %v %v", all, err)
	}
	for _, r := range all {
		if r.AccountID != want[r.ID] {
			t.Errorf("session %s: account_id %q, want %q", r.ID, r.AccountID, want[r.ID])
		}
	}
	// A new account after the migration gets an id that is unique too.
	if err := s.CreateAccount(ctx, store.Account{Name: "erin", CreatedAt: time.Now()}, nil); err != nil {
		t.Fatal(err)
	}
}
