package ingress

import (
	"testing"
	"time"

	"gatehouse/internal/store"
)

// The node's view merged with the store's is never more lenient than either: every combination
// of earlier/later debt, active or not, fewer/more strikes, earlier/later last failure.
func TestMergePenalty(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	early, late := t0.Add(time.Minute), t0.Add(time.Hour)
	for _, lu := range []time.Time{{}, early, late} {
		for _, pu := range []time.Time{{}, early, late} {
			for _, la := range []bool{false, true} {
				for _, pa := range []bool{false, true} {
					for _, ls := range []int{0, 3} {
						for _, ps := range []int{0, 5} {
							local := SourceState{Startups: 7, Until: lu, Active: la, Strikes: ls, Last: lu}
							shared := store.SourcePenalty{Until: pu, Active: pa, Strikes: ps, Last: pu}
							got := MergePenalty(local, shared)
							wantUntil := lu
							if pu.After(lu) {
								wantUntil = pu
							}
							if got.Startups != 7 || !got.Until.Equal(wantUntil) || got.Active != (la || pa) || got.Strikes != max(ls, ps) || !got.Last.Equal(wantUntil) {
								t.Fatalf("MergePenalty(%+v, %+v) = %+v", local, shared, got)
							}
						}
					}
				}
			}
		}
	}
}
