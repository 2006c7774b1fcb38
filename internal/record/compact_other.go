//go:build !linux

package record

import (
	"io"
	"log/slog"
	"runtime"
)

// idleThread: without SCHED_IDLE the compactor is a plain goroutine, one file at a time.
func idleThread(*slog.Logger) { runtime.LockOSThread() }

func threadPolicy() (uint32, error) { return 0, nil }

// NewChildWorker: elsewhere the file work stays in process (nil: Run's idle goroutine).
func NewChildWorker(io.Writer) CompactWorker { return nil }

func idleProcess() error { return nil }
