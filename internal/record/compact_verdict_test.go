package record

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestDecideCompaction: every combination of the session row (read error, found, status, hash,
// path), the child's answer and the pair of hashes. A compaction is chained only when the row
// is closed (or left by a dead gatehouse) for this very file and holds the hash the file had or
// the new one; it waits while the row is open or unreadable; everything else is refused.
func TestDecideCompaction(t *testing.T) {
	h := func(c string) string { return strings.Repeat(c, 64) }
	const path = "/var/lib/gatehouse/recordings/alice/x.ghrec"
	type pair struct{ name, old, now string }
	pairs := []pair{{"hashes", h("a"), h("b")}, {"new=old", h("a"), h("a")}, {"no new", h("a"), ""}, {"bad new", h("a"), "B" + h("b")[1:]}}
	rowHashes := []string{"old", "new", "empty", "other"}
	statuses := []string{"open", "closed", "interrupted", "purged"}
	outcomes := []CompactOutcome{Compacted, Refused, Unchanged, Gone, "bogus"}
	n := 0
	for _, rowErr := range []error{nil, errors.New("database away")} {
		for _, found := range []bool{true, false} {
			for _, status := range statuses {
				for _, rh := range rowHashes {
					for _, samePath := range []bool{true, false} {
						for _, out := range outcomes {
							for _, p := range pairs {
								row := CompactRow{Found: found, Status: status, Path: path}
								if !samePath {
									row.Path = "/var/lib/gatehouse/recordings/bob/y.ghrec"
								}
								switch rh {
								case "old":
									row.SHA256 = p.old
								case "new":
									row.SHA256 = p.now
								case "other":
									row.SHA256 = h("c")
								}
								if !found {
									row = CompactRow{}
								}
								res := CompactResult{Job: CompactJob{ID: "x", Path: path, SHA256: p.old, NewSHA256: p.now}, Outcome: out}
								want := VerdictRefuse
								switch {
								case out == Unchanged || out == Gone:
									want = VerdictNone
								case out != Compacted:
								case rowErr != nil:
									want = VerdictWait
								case p.name != "hashes" || !found || !samePath:
								case status == "open":
									want = VerdictWait
								case status == "closed" && (rh == "old" || rh == "new"):
									want = VerdictChain
								case status == "interrupted" && rh != "other":
									want = VerdictChain
								}
								name := fmt.Sprintf("err=%v found=%v %s row=%s samePath=%v %s %s", rowErr != nil, found, status, rh, samePath, out, p.name)
								got, why := DecideCompaction(row, rowErr, res)
								if got != want {
									t.Errorf("%s: %v (%s), want %v", name, got, why, want)
								}
								if (got == VerdictRefuse || got == VerdictWait) && why == "" {
									t.Errorf("%s: %v without a reason", name, got)
								}
								n++
							}
						}
					}
				}
			}
		}
	}
	if n != 2*2*4*4*2*5*4 {
		t.Fatalf("%d cases", n)
	}
	// The reviewers' case by name: a closed row whose hash is neither the old nor the new one.
	v, _ := DecideCompaction(CompactRow{Found: true, Status: "closed", SHA256: h("c"), Path: path}, nil,
		CompactResult{Job: CompactJob{Path: path, SHA256: h("a"), NewSHA256: h("b")}, Outcome: Compacted})
	if v != VerdictRefuse {
		t.Fatalf("row matching neither hash: %v", v)
	}
}
