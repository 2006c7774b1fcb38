//go:build !linux

package record

import (
	"log/slog"
	"runtime"
)

// idleThread: without SCHED_IDLE the compactor is a plain goroutine, one file at a time.
func idleThread(*slog.Logger) { runtime.LockOSThread() }

func threadPolicy() (uint32, error) { return 0, nil }
