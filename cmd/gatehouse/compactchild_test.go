//go:build linux

package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"gatehouse/internal/record"
)

// TestCompactChildBinary: the gatehouse binary, run as `gatehouse serve` runs it for a
// compaction (record.CompactChildArg, the job on stdin), compacts a closed recording whose text
// was stored as is: the outcome its parent reads is the file now on disk, and smaller.
func TestCompactChildBinary(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	d := &record.Deferral{Budget: 1 << 40}
	rec, path, err := record.Create(filepath.Join(dir, "rec"), "b.ghrec", record.Options{Format: record.Gatehouse, Defer: d})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 40000 {
		rec.Output(fmt.Appendf(nil, "Dec  2 18:%02d:%02d web-%02d app[%d]: level=info msg=request id=%08x path=/api/v1/items/%d status=200\n",
			i/60%60, i%60, i%7, 1000+i%13, i*2654435761, i%977))
	}
	sum, size, err := rec.Close()
	if err != nil {
		t.Fatal(err)
	}
	var got []record.CompactResult
	c := &record.Compactor{Queue: filepath.Join(dir, "queue"), Defer: d,
		Worker: &record.ChildWorker{Path: bin, Args: []string{record.CompactChildArg}, Stderr: os.Stderr},
		Done:   func(_ context.Context, r record.CompactResult) error { got = append(got, r); return nil }}
	if err := c.Open(); err != nil {
		t.Fatal(err)
	}
	if err := c.Enqueue(record.CompactJob{ID: "0123456789abcdef01234567", Path: path, SHA256: sum, Size: size, Deferred: record.DeferredBytes(rec)}); err != nil {
		t.Fatal(err)
	}
	if err := c.Pass(context.Background()); err != nil || len(got) != 1 || got[0].Outcome != record.Compacted {
		t.Fatalf("pass through the gatehouse binary: %v %+v", err, got)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(b)
	if j := got[0].Job; j.NewSHA256 != hex.EncodeToString(h[:]) || j.NewSize != int64(len(b)) || j.NewSize >= size/2 {
		t.Fatalf("the child said %s (%d bytes); the file has %x (%d bytes, was %d)", j.NewSHA256, j.NewSize, h, len(b), size)
	}
}
