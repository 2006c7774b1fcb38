package app

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"gatehouse/internal/audit"
	"gatehouse/internal/record"
	"gatehouse/internal/store"
)

// Compress at rest (docs/recording.md): recordings store streaming text as is while the node has
// the budget, and a compactor rewrites each closed one with s2 chunks on idle CPU.
const (
	// compactBudget bounds the node's uncompacted recording bytes: past it, recorders
	// compress inline as before.
	compactBudget = 2 << 30
	// compactMinFree is the free space kept on the recordings' disk beyond the uncompacted
	// bytes; below it, recorders compress inline.
	compactMinFree = 1 << 30
)

// CompactQueueDir holds the markers of recordings waiting for their compaction.
func CompactQueueDir(dataDir string) string { return filepath.Join(dataDir, "compact") }

// openCompactor sets up the compactor and hands it to the tracker (before the tracker marks
// the sessions a dead run left: their recordings are queued too).
func (a *App) openCompactor() error {
	c := &record.Compactor{Queue: CompactQueueDir(a.DataDir), Root: RecordingsDir(a.DataDir), Log: a.log,
		Defer: &record.Deferral{Budget: compactBudget, MinFree: compactMinFree, Dir: RecordingsDir(a.DataDir)}}
	outcomes := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gatehouse_recording_compactions_total",
		Help: "Closed recordings the compactor finished, by outcome: compacted, unchanged, refused (the file's sha256 is not the audited one: an alert), gone."},
		[]string{"outcome"})
	c.Worker = a.opts.CompactWorker
	c.Done = func(ctx context.Context, r record.CompactResult) error {
		if err := a.compactionDone(ctx, r); err != nil {
			return err
		}
		outcomes.WithLabelValues(string(r.Outcome)).Inc()
		return nil
	}
	if err := c.Open(); err != nil {
		return fmt.Errorf("recording compaction: %w", err)
	}
	a.Metrics.Registry.MustRegister(outcomes,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gatehouse_recording_uncompacted_bytes",
			Help: "Recording bytes stored as is and not yet compacted (open recordings and queued files); past the budget recorders compress inline."},
			func() float64 { return float64(c.Defer.Pending()) }))
	a.Compactor, a.Tracker.Compact = c, c
	return nil
}

// shipCompacted makes the archive (when set up) wait for each queued recording and ship its
// compacted file.
func (a *App) shipCompacted() {
	if a.Archive != nil && a.Compactor != nil {
		a.Archive.Hold, a.Compactor.Next = a.Compactor.Withheld, a.Archive.Closed
	}
}

// compactionDone records a compaction's outcome: the new hash and size in the session row and a
// `recording.compacted` event that chains the hash audited at the session's close to the file
// now on disk; a file whose hash is not the audited one, or a row that vouches for neither the
// file's hash nor the new one, gets a `recording.compaction_refused` alarm and nothing is
// chained (record.DecideCompaction decides, in the row's transaction).
func (a *App) compactionDone(ctx context.Context, r record.CompactResult) error {
	j := r.Job
	if r.Outcome != record.Compacted {
		v, why := record.DecideCompaction(record.CompactRow{}, nil, r)
		if v != record.VerdictRefuse {
			return nil
		}
		return a.refuseCompaction(r, why, "")
	}
	var (
		v   record.CompactVerdict
		why string
		row string // the row's hash, for the alarm
	)
	err := a.Store.CloseSession(ctx, j.ID, func(s *store.Session) {
		v, why = record.DecideCompaction(record.CompactRow{Found: true, Status: s.Status, SHA256: s.SHA256, Path: s.Recording}, nil, r)
		row = s.SHA256
		if v == record.VerdictChain {
			s.SHA256, s.Size = j.NewSHA256, j.NewSize
		}
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		v, why = record.DecideCompaction(record.CompactRow{}, nil, r)
	case err != nil:
		v, why = record.DecideCompaction(record.CompactRow{}, err, r)
	}
	switch v {
	case record.VerdictWait:
		// An open row's late close would write the hash audited at the close over the new
		// one: the outcome is recorded once the row is closed (the job is tried again).
		if err != nil {
			return fmt.Errorf("session row: %s: %w", why, err)
		}
		return errors.New("session row: " + why)
	case record.VerdictRefuse:
		return a.refuseCompaction(r, why, row)
	case record.VerdictChain:
		return a.Audit.Append(audit.Event{Type: "recording.compacted", Fields: audit.Fields{UniqID: j.ID, RecordingID: j.ID,
			RecordingSHA256: j.NewSHA256, RecordingSize: j.NewSize,
			Extra: map[string]string{"old_sha256": j.SHA256, "old_size": strconv.FormatInt(j.Size, 10), "path": j.Path}}})
	}
	return nil
}

// refuseCompaction appends the alarm for a compaction that is not chained: the file's hash is
// not the audited one (found), or the session row vouches for neither hash (row).
func (a *App) refuseCompaction(r record.CompactResult, why, row string) error {
	j := r.Job
	extra := map[string]string{"path": j.Path, "reason": why}
	if r.Found != "" {
		extra["found_sha256"] = r.Found
	}
	if r.Outcome == record.Compacted {
		// The file was rewritten before the row was read: say what it holds now.
		extra["row_sha256"], extra["new_sha256"], extra["new_size"] = row, j.NewSHA256, strconv.FormatInt(j.NewSize, 10)
	}
	a.log.Error("recording: compaction not chained in the audit log", "id", j.ID, "path", j.Path, "reason", why)
	return a.Audit.Append(audit.Event{Type: "recording.compaction_refused", Fields: audit.Fields{UniqID: j.ID, RecordingID: j.ID,
		RecordingSHA256: j.SHA256, RecordingSize: j.Size,
		Comment: "the recording's sha256 is not the one audited at its close, or its session row vouches for neither: no hash is chained",
		Extra:   extra}})
}

// runCompactor compacts until ctx ends.
func (a *App) runCompactor(ctx context.Context) {
	if a.Compactor != nil {
		go a.Compactor.Run(ctx)
	}
}
