//go:build !linux

package ingress

// setQuickAck does nothing: TCP_QUICKACK is Linux's. Elsewhere (macOS, FreeBSD) the delayed ACK
// costs the login a few tens of milliseconds, nothing more.
func setQuickAck(uintptr) {}
