// Package archive ships closed recordings and the audit log to an S3-compatible bucket
// (docs/cluster.md). Everything is written on local disk first, as on a single node; a
// background shipper uploads each closed file, reads it back to check its size and SHA-256, and
// only then notes it as shipped (a line in DATA_DIR/archive/shipped.jsonl). So a bucket that is
// down or slow loses nothing: files wait on disk (the backlog, a metric) and are shipped later,
// also after a restart. A disk budget refuses new sessions before the local disk fills.
//
// Object keys: PREFIX/recordings/NODE/ACCOUNT/FILE and PREFIX/audit/NODE/audit-<seq>.jsonl. The
// current audit file is shipped up to its last signed checkpoint, again as it grows; rotated
// files whole. Each node's chain is its own, under its node name.
package archive

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"

	"gatehouse/internal/audit"
	"gatehouse/internal/config"
	"gatehouse/internal/keysync"
)

// Client is a bucket and the prefix under which gatehouse writes.
type Client struct {
	S3     *minio.Client
	Bucket string
	Prefix string // "" or ending in "/"
}

// NewClient connects to the [archive] bucket, set up as the key sync's S3 source is (same
// endpoint, credential and CA handling).
func NewClient(c config.Archive) (*Client, error) {
	ak, sk := c.Credentials()
	src, err := keysync.NewSource(config.SyncSource{Name: "archive", Kind: "s3", Bucket: c.Bucket, Endpoint: c.Endpoint,
		Region: c.Region, AccessKey: ak, SecretKey: sk, CAFile: c.CAFile})
	if err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	prefix := strings.Trim(c.Prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	return &Client{S3: src.(*keysync.S3).Client, Bucket: c.Bucket, Prefix: prefix}, nil
}

// RecordingKey is where the recording at local path lands: its account is its folder's name.
func (c *Client) RecordingKey(node, recording string) string {
	return c.Prefix + path.Join("recordings", node, filepath.Base(filepath.Dir(recording)), filepath.Base(recording))
}

// AuditKey is where a node's audit log file lands.
func (c *Client) AuditKey(node, file string) string {
	return c.Prefix + path.Join("audit", node, filepath.Base(file))
}

// Put uploads size bytes of r under key and reads the object back: it is shipped only when the
// bucket holds exactly those bytes (size and SHA-256).
func (c *Client) Put(ctx context.Context, key string, r io.Reader, size int64, sum string, retain time.Time) error {
	opts := minio.PutObjectOptions{ContentType: "application/octet-stream", UserMetadata: map[string]string{"sha256": sum}}
	if !retain.IsZero() {
		opts.Mode, opts.RetainUntilDate = minio.Governance, retain
	}
	if _, err := c.S3.PutObject(ctx, c.Bucket, key, r, size, opts); err != nil {
		return fmt.Errorf("upload s3://%s/%s: %w", c.Bucket, key, err)
	}
	gotSum, gotSize, err := c.hash(ctx, key)
	if err != nil {
		return err
	}
	if gotSize != size || gotSum != sum {
		return fmt.Errorf("s3://%s/%s reads back as %d bytes, sha256 %s, not %d bytes, %s", c.Bucket, key, gotSize, gotSum, size, sum)
	}
	return nil
}

func (c *Client) hash(ctx context.Context, key string) (string, int64, error) {
	obj, err := c.S3.GetObject(ctx, c.Bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return "", 0, fmt.Errorf("read back s3://%s/%s: %w", c.Bucket, key, err)
	}
	defer func() { _ = obj.Close() }() // read only
	h := sha256.New()
	n, err := io.Copy(h, obj)
	if err != nil {
		return "", n, fmt.Errorf("read back s3://%s/%s: %w", c.Bucket, key, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// Download copies the object key to an unlinked temporary file in dir and returns it, read from
// its start, after checking its SHA-256 against want (when given): a recording replaced in the
// bucket is refused, not played. More than max bytes (when positive) is refused before it fills
// the disk.
func (c *Client) Download(ctx context.Context, key, want, dir string, max int64) (*os.File, error) {
	obj, err := c.S3.GetObject(ctx, c.Bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, fmt.Errorf("archive: read s3://%s/%s: %w", c.Bucket, key, err)
	}
	defer func() { _ = obj.Close() }() // read only: everything was copied to the temporary file
	f, err := os.CreateTemp(dir, "archived-*")
	if err != nil {
		return nil, err
	}
	_ = os.Remove(f.Name()) // gone with the descriptor; best effort: the file is already unlinked on Linux when this fails elsewhere; the descriptor keeps its data
	h := sha256.New()
	var src io.Reader = obj
	if max > 0 {
		src = io.LimitReader(obj, max+1)
	}
	n, err := io.Copy(io.MultiWriter(f, h), src)
	if err != nil {
		_ = f.Close() // the read error is the one to report
		return nil, fmt.Errorf("archive: read s3://%s/%s: %w", c.Bucket, key, err)
	}
	if max > 0 && n > max {
		_ = f.Close() // the size error is the one to report
		return nil, fmt.Errorf("archive: s3://%s/%s is larger than the audited %d bytes", c.Bucket, key, max)
	}
	if got := hex.EncodeToString(h.Sum(nil)); want != "" && got != want {
		_ = f.Close() // the hash error is the one to report
		return nil, fmt.Errorf("archive: s3://%s/%s has sha256 %s, not the audited %s", c.Bucket, key, got, want)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		_ = f.Close() // the seek error is the one to report
		return nil, err
	}
	return f, nil
}

// shipped is one line of the state file.
type shipped struct {
	Key    string `json:"key"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Shipper uploads a node's closed recordings and audit log files.
type Shipper struct {
	Client   *Client
	Node     string
	RecDir   string // recordings root (ACCOUNT/FILE below it)
	AuditDir string
	StateDir string // holds shipped.jsonl
	Log      *slog.Logger
	Now      func() time.Time
	// Retention, when positive, is set as a governance-mode object lock on each upload (when
	// the bucket has object lock enabled).
	Retention time.Duration
	// MaxBacklog and MinFree are the disk budget Admit enforces.
	MaxBacklog, MinFree int64
	// Hold, when set, says a recording is not to be shipped yet (its compaction waits: the
	// compacted file is the one shipped, record.Compactor). It is queued, and shipped once
	// Closed is called for it again.
	Hold func(path string) bool

	mu      sync.Mutex
	done    map[string]shipped // by key
	pending map[string]string  // recording path -> audited sha256 ("" when found by the start scan)
	lock    bool               // the bucket has object lock
	kick    chan struct{}

	backlogBytes, backlogFiles atomic.Int64
	uploaded                   atomic.Int64
}

// Start loads what was shipped before and queues every recording on disk not yet shipped (at
// start none is open: the tracker closed those a dead run left).
func (s *Shipper) Start(ctx context.Context) error {
	s.done, s.pending, s.kick = map[string]shipped{}, map[string]string{}, make(chan struct{}, 1)
	if s.Now == nil {
		s.Now = time.Now
	}
	if err := os.MkdirAll(s.StateDir, 0o700); err != nil {
		return err
	}
	if err := s.load(); err != nil {
		return err
	}
	err := filepath.WalkDir(s.RecDir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return err
		}
		// A hidden file is a compaction's temporary copy (record.Compactor), never a recording.
		if d.Type().IsRegular() && !strings.HasPrefix(d.Name(), ".") {
			if _, ok := s.done[s.Client.RecordingKey(s.Node, p)]; !ok {
				s.pending[p] = ""
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("archive: scan recordings: %w", err)
	}
	if s.Retention > 0 {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		mode, _, _, _, err := s.Client.S3.GetObjectLockConfig(cctx, s.Client.Bucket)
		cancel()
		s.lock = err == nil && mode != ""
		if err != nil {
			// Not an error: the bucket may not support object lock, or be down now.
			s.Log.Warn("archive: the bucket has no object lock; objects are uploaded without retention", "bucket", s.Client.Bucket, "err", err)
		}
	}
	s.measure()
	return nil
}

func (s *Shipper) statePath() string { return filepath.Join(s.StateDir, "shipped.jsonl") }

func (s *Shipper) load() error {
	f, err := os.Open(s.statePath())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }() // read only
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e shipped
		if json.Unmarshal(sc.Bytes(), &e) == nil && e.Key != "" { // a torn last line: shipped again
			s.done[e.Key] = e
		}
	}
	return sc.Err()
}

func (s *Shipper) note(e shipped) error {
	line, _ := json.Marshal(e)
	f, err := os.OpenFile(s.statePath(), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(append(line, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("archive: note shipped: %w", err)
	}
	s.mu.Lock()
	s.done[e.Key] = e
	s.mu.Unlock()
	return nil
}

// Closed queues a recording the tracker closed (its SHA-256 audited) and wakes the shipper.
func (s *Shipper) Closed(p, sum string, size int64) {
	s.mu.Lock()
	s.pending[p] = sum
	s.mu.Unlock()
	s.backlogFiles.Add(1)
	s.backlogBytes.Add(size)
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Run ships at each interval and when a recording closes, until ctx ends.
func (s *Shipper) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := s.Pass(ctx); err != nil && ctx.Err() == nil {
			s.Log.Warn("archive: shipping paused; files wait on local disk", "err", err, "backlog_files", s.backlogFiles.Load(), "backlog_bytes", s.backlogBytes.Load())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.kick:
		}
	}
}

// Pass ships what waits: queued recordings, then audit files. It stops at the first failure
// (the bucket is down: the next pass tries again).
func (s *Shipper) Pass(ctx context.Context) error {
	defer s.measure()
	s.mu.Lock()
	paths := make([]string, 0, len(s.pending))
	for p := range s.pending {
		paths = append(paths, p)
	}
	s.mu.Unlock()
	slices.Sort(paths)
	for _, p := range paths {
		if s.Hold != nil && s.Hold(p) {
			continue
		}
		if err := s.shipRecording(ctx, p); err != nil {
			return err
		}
	}
	files, err := audit.Files(s.AuditDir)
	if err != nil {
		return err
	}
	for i, f := range files {
		size, err := s.auditShippable(f, i == len(files)-1)
		if err != nil {
			return err
		}
		key := s.Client.AuditKey(s.Node, f)
		s.mu.Lock()
		prev := s.done[key]
		s.mu.Unlock()
		if size == 0 || prev.Size >= size {
			continue
		}
		// The current file's prefix is replaced as it grows: locked only once rotated (a
		// locked object cannot be overwritten where the bucket keeps no versions).
		if err := s.ship(ctx, f, key, size, "", i < len(files)-1); err != nil {
			return err
		}
	}
	return nil
}

// auditShippable is how much of an audit file may be shipped: a rotated file whole, the
// current one up to its last checkpoint (so every object ends signed).
func (s *Shipper) auditShippable(f string, current bool) (int64, error) {
	if current {
		return audit.SignedPrefix(f)
	}
	st, err := os.Stat(f)
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

func (s *Shipper) shipRecording(ctx context.Context, p string) error {
	s.mu.Lock()
	want := s.pending[p]
	s.mu.Unlock()
	st, err := os.Stat(p)
	if errors.Is(err, os.ErrNotExist) {
		s.Log.Error("archive: a recording waiting to be shipped is gone from the disk", "path", p)
		s.mu.Lock()
		delete(s.pending, p)
		s.mu.Unlock()
		return nil
	}
	if err != nil {
		return err
	}
	if err := s.ship(ctx, p, s.Client.RecordingKey(s.Node, p), st.Size(), want, true); err != nil {
		return err
	}
	s.mu.Lock()
	delete(s.pending, p)
	s.mu.Unlock()
	return nil
}

// ship uploads the first size bytes of local file p under key, checks them, and notes them.
// A final object (it will not change) gets the retention, when there is one.
func (s *Shipper) ship(ctx context.Context, p, key string, size int64, want string, final bool) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }() // read only
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, size)); err != nil {
		return err
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if want != "" && want != sum {
		// The file changed after its hash was audited: ship it anyway (it is evidence), say so.
		s.Log.Error("archive: a recording differs from its audited sha256; shipped as it is", "path", p, "audited", want, "file", sum)
	}
	var retain time.Time
	if final && s.lock && s.Retention > 0 {
		retain = s.Now().Add(s.Retention)
	}
	if err := s.Client.Put(ctx, key, io.NewSectionReader(f, 0, size), size, sum, retain); err != nil {
		return err
	}
	s.uploaded.Add(1)
	return s.note(shipped{Key: key, Size: size, SHA256: sum})
}

// measure recomputes the backlog: queued recordings and unshipped audit bytes.
func (s *Shipper) measure() {
	var files, bytes int64
	s.mu.Lock()
	paths := make([]string, 0, len(s.pending))
	for p := range s.pending {
		paths = append(paths, p)
	}
	done := func(k string) int64 { return s.done[k].Size }
	s.mu.Unlock()
	for _, p := range paths {
		if st, err := os.Stat(p); err == nil {
			files++
			bytes += st.Size()
		}
	}
	if all, err := audit.Files(s.AuditDir); err == nil {
		for _, f := range all {
			st, err := os.Stat(f)
			if err != nil {
				continue
			}
			s.mu.Lock()
			d := done(s.Client.AuditKey(s.Node, f))
			s.mu.Unlock()
			if st.Size() > d {
				files++
				bytes += st.Size() - d
			}
		}
	}
	s.backlogFiles.Store(files)
	s.backlogBytes.Store(bytes)
}

// Backlog is what waits on local disk to be shipped.
func (s *Shipper) Backlog() (files, bytes int64) { return s.backlogFiles.Load(), s.backlogBytes.Load() }

// Uploaded counts the objects shipped since start.
func (s *Shipper) Uploaded() int64 { return s.uploaded.Load() }

// BudgetError refuses a session; its message is shown to the user.
type BudgetError struct{ Reason string }

func (e *BudgetError) Error() string { return "archive disk budget: " + e.Reason }

// UserMessage is what the refused user reads.
func (e *BudgetError) UserMessage() string {
	return "This bastion cannot keep more recordings on its disk until they are archived (" + e.Reason + "); new sessions are refused, please tell the bastion administrators."
}

// Admit refuses a new session when the backlog or the free disk space is past the budget.
func (s *Shipper) Admit() error {
	return Admit(s.backlogBytes.Load(), s.MaxBacklog, freeBytes(s.RecDir), s.MinFree)
}

// Admit is the budget decision: refuse when the backlog exceeds maxBacklog, or when the free
// space (-1: unknown) is below minFree. An unknown free space is not a refusal on its own: the
// backlog bound still holds.
func Admit(backlog, maxBacklog, free, minFree int64) error {
	if maxBacklog > 0 && backlog >= maxBacklog {
		return &BudgetError{Reason: fmt.Sprintf("%d bytes wait to be shipped to the bucket, the budget is %d", backlog, maxBacklog)}
	}
	if minFree > 0 && free >= 0 && free < minFree {
		return &BudgetError{Reason: fmt.Sprintf("%d bytes free on the recordings' disk, below the %d kept free", free, minFree)}
	}
	return nil
}

func freeBytes(dir string) int64 {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return -1
	}
	return int64(st.Bavail) * int64(st.Bsize)
}
