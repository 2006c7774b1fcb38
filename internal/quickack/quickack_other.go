//go:build !linux

package quickack

// set does nothing: TCP_QUICKACK is Linux's. Elsewhere (macOS, FreeBSD) the delayed ACK costs a
// login a few tens of milliseconds, nothing more.
func set(uintptr) {}
