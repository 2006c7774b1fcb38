package app

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"gatehouse/internal/archive"
	"gatehouse/internal/config"
	"gatehouse/internal/store"
)

// ArchiveStateDir holds the archive's note of what was shipped.
func ArchiveStateDir(dataDir string) string { return filepath.Join(dataDir, "archive") }

// openArchive sets up the [archive] shipper (nothing without a bucket): the tracker tells it
// of each closed recording and asks it before each session (the disk budget); playback reads
// from the bucket what is not on disk; metrics show the backlog.
func (a *App) openArchive(ctx context.Context) error {
	cfg := a.Config().Archive
	if !cfg.Enabled() {
		return nil
	}
	cl, err := archive.NewClient(cfg)
	if err != nil {
		return err
	}
	maxBacklog, minFree := cfg.Budget()
	s := &archive.Shipper{Client: cl, Node: a.NodeName(), RecDir: RecordingsDir(a.DataDir), AuditDir: AuditDir(a.DataDir),
		StateDir: ArchiveStateDir(a.DataDir), Log: a.log, Now: time.Now, MaxBacklog: maxBacklog, MinFree: minFree,
		Retention: time.Duration(cfg.RetentionDays) * 24 * time.Hour}
	if err := s.Start(ctx); err != nil {
		return err
	}
	a.Archive = s
	a.Tracker.Admit, a.Tracker.OnClosed = s.Admit, s.Closed
	me := a.NodeName()
	a.Env.Archived = func(ctx context.Context, sess store.Session) (*os.File, error) {
		node := sess.Node
		if node == "" {
			node = me
		}
		return cl.Download(ctx, cl.RecordingKey(node, sess.Recording), sess.SHA256, "", sess.Size)
	}
	a.Metrics.Registry.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gatehouse_archive_backlog_bytes",
			Help: "Bytes of recordings and audit log waiting on local disk to be shipped to the archive bucket."},
			func() float64 { _, b := s.Backlog(); return float64(b) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gatehouse_archive_backlog_files",
			Help: "Recordings and audit log files waiting on local disk to be shipped to the archive bucket."},
			func() float64 { f, _ := s.Backlog(); return float64(f) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "gatehouse_archive_uploads_total",
			Help: "Objects shipped to the archive bucket and read back intact."},
			func() float64 { return float64(s.Uploaded()) }))
	return nil
}

// runArchive ships until ctx ends.
func (a *App) runArchive(ctx context.Context) {
	if a.Archive != nil {
		go a.Archive.Run(ctx, a.Config().Archive.IntervalDuration())
	}
}

// flushArchive makes one last attempt at shipping, after the audit log's shutdown checkpoint.
func (a *App) flushArchive() {
	if a.Archive == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Archive.Pass(ctx); err != nil {
		a.log.Warn("archive: files left to ship at the next start", "err", fmt.Sprint(err))
	}
}

// LoadConfig reads the configuration file, or DATA-DIR/gatehouse.toml when there is one, or
// the defaults (for offline commands such as `audit verify --bucket`).
func LoadConfig(dataDir, configFile string) (*config.Config, error) {
	if configFile == "" {
		if p := filepath.Join(dataDir, "gatehouse.toml"); fileExists(p) {
			configFile = p
		}
	}
	cfg := config.Default()
	if configFile != "" {
		var err error
		if cfg, err = config.Load(configFile); err != nil {
			return nil, err
		}
	}
	return &cfg, nil
}

// auditNode is the node name the audit log's start events carry: with [archive] or a shared
// store (several nodes), else none (a single node's log stays as it was).
func (a *App) auditNode() string {
	if a.Config().Archive.Enabled() || a.opts.Node != "" || a.Config().Node != "" || a.opts.Store != "" || a.Config().Store != "" {
		return a.NodeName()
	}
	return ""
}
