package ingress

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"gatehouse/internal/access"
	"gatehouse/internal/store"
	"gatehouse/internal/store/sqlite"
)

// BenchmarkForwardRecheck is the store's side of one re-check of a live forwarded connection
// (what forwardRecheckEvery costs per open forwarded connection, MFA hook aside), on SQLite:
// the account, its key, its accesses, and the verdict.
func BenchmarkForwardRecheck(b *testing.B) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "state.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	pub := newKey(b)
	fp := ssh.FingerprintSHA256(pub)
	if err := st.CreateAccount(ctx, store.Account{Name: "alice", CreatedAt: time.Now(), MaxInactiveDays: -1},
		[]store.IngressKey{{Account: "alice", Line: string(ssh.MarshalAuthorizedKey(pub)), Type: pub.Type(), Fingerprint: fp}}); err != nil {
		b.Fatal(err)
	}
	a, err := st.GetAccount(ctx, "alice")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := st.AddEgressKey(ctx, store.EgressKey{OwnerKind: "account", Owner: "alice", Type: "ssh-ed25519", Public: string(ssh.MarshalAuthorizedKey(pub)),
		Fingerprint: fp, Sealed: []byte("x"), CreatedAt: time.Now()}); err != nil {
		b.Fatal(err)
	}
	for _, e := range []store.ACLEntry{{Host: "10.0.0.5", User: "root", Port: 22}, {Host: "10.0.0.5", User: "!forward", Port: 5432}} {
		e.Kind, e.Owner, e.AddedBy, e.AddedAt = store.ACLPersonal, "alice", "admin", time.Now()
		if _, err := st.AddACL(ctx, e); err != nil {
			b.Fatal(err)
		}
	}
	s := New(authEnv{st: st}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	outer := &ssh.ServerConn{Permissions: &ssh.Permissions{Extensions: map[string]string{extAccount: "alice", extAccountID: a.ID, extKey: fp}}}
	ip := netip.MustParseAddr("10.0.0.5")
	r := access.ForwardRequest{Direction: access.ForwardThrough, Target: access.Target{User: "root", Host: "10.0.0.5", IP: ip, Port: 22},
		Dest: access.Target{Host: "10.0.0.5", IP: ip, Port: 5432}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := forwardVerdict(time.Now(), s.forwardFactsOf(ctx, outer), r); err != nil {
			b.Fatal(err)
		}
	}
}
