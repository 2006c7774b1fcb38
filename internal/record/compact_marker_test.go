package record

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzCompactMarker: a marker file as someone may have edited it by hand. An accepted marker
// has a path, an id that is its own file name and a hash; and a path inRoot accepts is an
// absolute gatehouse recording strictly below the recordings' directory.
func FuzzCompactMarker(f *testing.F) {
	f.Add(`{"id":"m1","path":"/data/recordings/a/b.ghrec","sha256":"00"}`)
	f.Add(`{"id":"m1","path":"/data/recordings/../../etc/shadow","sha256":"00"}`)
	f.Add(`{"id":"../m1","path":"/data/recordings/x.ghrec","sha256":"00"}`)
	f.Add(`{"id":"m1","path":"/data/recordings/.ghrec","sha256":"00"}`)
	f.Add(`{"id":"m1","path":"relative/x.ghrec","sha256":"00"}`)
	dir := f.TempDir()
	root := "/data/recordings"
	c := &Compactor{Root: root}
	f.Fuzz(func(t *testing.T, body string) {
		p := filepath.Join(dir, "m1"+markerExt)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		job, err := readMarker(p)
		if err != nil {
			return
		}
		if job.ID != "m1" || job.Path == "" || job.SHA256 == "" {
			t.Fatalf("accepted marker %+v", job)
		}
		if c.inRoot(job.Path) != nil {
			return
		}
		rel, err := filepath.Rel(root, filepath.Clean(job.Path))
		if err != nil || !filepath.IsAbs(job.Path) || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.Ext(job.Path) != ".ghrec" {
			t.Fatalf("inRoot accepted %q (rel %q)", job.Path, rel)
		}
	})
}
