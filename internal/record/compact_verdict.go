package record

// What recording a compaction's outcome may do, decided from the session row it would change
// (docs/recording.md, "Compress at rest"). The compactor checked the file against the hash the
// marker gives; the row is what an auditor, a replay from the bucket and `selfPlaySession`
// trust: a compaction is chained (row and `recording.compacted`) only when the row vouches for
// the hash the file had, or already holds the new one (a restart after the row was written).
// Anything else fails closed: an alarm, no hash chained.

// CompactRow is the session row as found when a compaction's outcome is recorded.
type CompactRow struct {
	Found  bool   // the row exists
	Status string // "open", "closed", "interrupted"
	SHA256 string // the recording's hash the row holds ("" for a session a dead gatehouse left)
	Path   string // the row's recording
}

// CompactVerdict is what recording a compaction's outcome does.
type CompactVerdict int

const (
	// VerdictNone: nothing to record (the file is unchanged, or gone).
	VerdictNone CompactVerdict = iota
	// VerdictWait: not now (the row could not be read, or its close is not written yet): the
	// marker stays and the outcome is recorded again later.
	VerdictWait
	// VerdictChain: the row takes the new hash and size, and `recording.compacted` chains the
	// hash audited at the close to the file's.
	VerdictChain
	// VerdictRefuse: `recording.compaction_refused`, an alarm; no hash is chained and the row
	// is not changed.
	VerdictRefuse
)

func (v CompactVerdict) String() string {
	return [...]string{"none", "wait", "chain", "refuse"}[v]
}

// DecideCompaction is the verdict for res given the session row (row, or rowErr when it could
// not be read; a missing row is Found false with no error), and why.
func DecideCompaction(row CompactRow, rowErr error, res CompactResult) (CompactVerdict, string) {
	old, now := res.Job.SHA256, res.Job.NewSHA256
	switch res.Outcome {
	case Unchanged, Gone:
		return VerdictNone, ""
	case Refused:
		return VerdictRefuse, "the recording's sha256 is not the one audited at its close"
	case Compacted:
	default:
		return VerdictRefuse, "unknown outcome " + string(res.Outcome)
	}
	switch {
	case rowErr != nil:
		return VerdictWait, "the session row cannot be read"
	case !isSHA256(old) || !isSHA256(now) || old == now:
		return VerdictRefuse, "the compaction gives no pair of hashes to chain"
	case !row.Found:
		return VerdictRefuse, "no session row vouches for the recording's hash"
	case row.Path != res.Job.Path:
		return VerdictRefuse, "the compacted file is not the session row's recording"
	case row.Status == "open":
		return VerdictWait, "the session's close is not written yet"
	case row.Status != "closed" && row.Status != "interrupted":
		return VerdictRefuse, "the session row's status is " + row.Status
	case row.SHA256 == old || row.SHA256 == now:
		return VerdictChain, ""
	case row.SHA256 == "" && row.Status == "interrupted":
		// A session a dead gatehouse left: its row has no hash; the session.interrupted
		// event gives the one the compactor checked.
		return VerdictChain, ""
	}
	return VerdictRefuse, "the session row's sha256 is neither the recording's audited hash nor its compacted copy's"
}
