package record

// The compaction queue's markers (compact.go): DATA_DIR/compact/ID.json, each written
// atomically, each naming a gatehouse recording below the recordings' directory.

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// inRoot checks that path is a gatehouse recording below Root (when set).
func (c *Compactor) inRoot(path string) error {
	if c.Root == "" {
		return nil
	}
	rel, err := filepath.Rel(filepath.Clean(c.Root), filepath.Clean(path))
	if err != nil || !filepath.IsAbs(path) || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) ||
		filepath.Ext(path) != "."+Gatehouse.Ext() {
		return fmt.Errorf("%s is not a gatehouse recording below %s", path, c.Root)
	}
	return nil
}

func readMarker(p string) (CompactJob, error) {
	var job CompactJob
	b, err := os.ReadFile(p)
	if err == nil {
		err = json.Unmarshal(b, &job)
	}
	if err == nil && (job.Path == "" || job.ID == "" || job.SHA256 == "") {
		err = errors.New("marker without a path, an id or a hash")
	}
	if err == nil && job.ID+markerExt != filepath.Base(p) {
		// The id names the marker the compaction writes (Queue/ID.json): one that is not this
		// file's name could point out of the queue.
		err = fmt.Errorf("marker of id %q", job.ID)
	}
	return job, err
}

// writeMarker writes job's marker atomically (a copy, fsynced, renamed, the directory fsynced).
func (c *Compactor) writeMarker(p string, job CompactJob) error {
	b, _ := json.Marshal(job) // plain fields: cannot fail
	tmp := p + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err != nil {
		_ = os.Remove(tmp) // the write error is the one to report
		return err
	}
	return syncDir(c.Queue)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
