package ingress

import (
	"testing"
	"time"
)

// BenchmarkSourcePolicyAdmitEnd: the per-node decision and count of a connection's source (the
// admit at accept and the end of its handshake), to set beside a lease in the shared store
// (internal/store/postgres BenchmarkStartupLease, docs/cluster.md "Per-source startups").
func BenchmarkSourcePolicyAdmitEnd(b *testing.B) {
	p := SourcePolicy{MaxStartups: 10, Penalties: true, AuthFail: 5 * time.Second, NoAuth: time.Second,
		Grace: 10 * time.Second, Min: 15 * time.Second, Max: 10 * time.Minute}
	now := time.Unix(1_800_000_000, 0)
	var st SourceState
	for b.Loop() {
		var v SourceVerdict
		st, v = p.Admit(st, now)
		if v != SourceAdmit {
			b.Fatal(v)
		}
		st = p.End(st, SourceAuthOK, now)
	}
}
