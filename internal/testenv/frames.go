package testenv

import (
	"testing"

	"gatehouse/internal/testenv/frames"
)

// FrameSizes is frames.Sizes: the frame of each of pkg's functions.
func FrameSizes(t testing.TB, pkg string) map[string]int {
	t.Helper()
	return frames.Sizes(t, pkg)
}

// CheckFrames is frames.Check: it fails t for each function of max whose frame is larger than
// its bound.
func CheckFrames(t testing.TB, pkg string, max map[string]int) {
	t.Helper()
	frames.Check(t, pkg, max)
}
