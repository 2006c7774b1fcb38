//go:build !linux

package record

import (
	"os"
	"sync/atomic"
)

// stagesMapped counts stages outside the Go heap: none here.
var stagesMapped atomic.Int64

// Elsewhere than Linux recordings go through the page cache.
func (r *recFile) openDirect() (*os.File, error) { return nil, errDirectUnsupported }

func isUnsupported(error) bool { return true }

// newStageMemory allocates a stage on the Go heap (unused here: no direct I/O).
func newStageMemory() *[]byte { return heapStage() }
