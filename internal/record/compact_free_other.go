//go:build !(linux || darwin || freebsd)

package record

// freeSpace: unknown here (no statfs), so recorders never defer (Deferral.lowDisk).
func freeSpace(string) int64 { return -1 }
