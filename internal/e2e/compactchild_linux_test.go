package e2e

import (
	"os"
	"testing"

	"gatehouse/internal/record"
)

// TestCompactChildMain is the compaction child of the e2e tests (this test binary re-run, as
// `gatehouse serve` re-runs itself with record.CompactChildArg): with GH_E2E_COMPACT_CHILD=1 it
// serves one job and exits. Without it (the normal run) it does nothing.
func TestCompactChildMain(t *testing.T) {
	if os.Getenv("GH_E2E_COMPACT_CHILD") != "1" {
		return
	}
	os.Exit(record.CompactChildMain(os.Stdin, os.Stdout, os.Stderr))
}

// compactChild is gatehouse serve's compaction worker with this binary as the child.
func compactChild() record.CompactWorker {
	return &record.ChildWorker{Path: os.Args[0], Args: []string{"-test.run=^TestCompactChildMain$", "-test.count=1"},
		Env: append(os.Environ(), "GH_E2E_COMPACT_CHILD=1"), Stderr: os.Stderr}
}
