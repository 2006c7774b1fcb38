// Package frames measures the stack frames the compiler gives a package's functions, for tests
// that bound what a waiting goroutine keeps. A leaf package (no gatehouse import), so that a
// low-level package's tests need not build the whole application (internal/testenv does) to use
// it: internal/egress's tests build for every OS through it.
package frames

import (
	"os/exec"
	"regexp"
	"strconv"
	"testing"
)

// Sizes compiles pkg with -S and returns the frame of each of its functions (its locals, in
// bytes): what a goroutine waiting in that function keeps on its stack. The go command replays
// a cached compile's output, so this is quick after the first run.
func Sizes(t testing.TB, pkg string) map[string]int {
	t.Helper()
	// The go command that runs the tests is on PATH (go test); `go env GOROOT` would need it too.
	out, err := exec.Command("go", "build", "-o", "/dev/null", "-gcflags="+pkg+"=-S", pkg).CombinedOutput()
	if err != nil {
		t.Fatalf("go build -gcflags=-S %s: %v\n%s", pkg, err, out)
	}
	re := regexp.MustCompile(`(?m)^(\S+) STEXT.* locals=0x([0-9a-f]+)`)
	sizes := map[string]int{}
	for _, m := range re.FindAllStringSubmatch(string(out), -1) {
		n, _ := strconv.ParseInt(m[2], 16, 64)
		sizes[m[1]] = int(n)
	}
	return sizes
}

// Check fails t for each function of max whose frame is larger than its bound.
func Check(t testing.TB, pkg string, max map[string]int) {
	t.Helper()
	sizes := Sizes(t, pkg)
	for fn, limit := range max {
		got, ok := sizes[fn]
		if !ok {
			t.Fatalf("%s not found in the compiler's output", fn)
		}
		t.Logf("%s: %d bytes of locals", fn, got)
		if got > limit {
			t.Errorf("%s keeps %d bytes of locals on a waiting goroutine's stack, want <= %d", fn, got, limit)
		}
	}
}
