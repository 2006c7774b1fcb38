package testenv

import (
	"fmt"
	"os"
	"testing"
)

// Need stops a test that cannot run on this machine: in CI (CI=true) it fails, since .ci/run
// installs and starts everything the tests need and a skipped test there proves nothing; on a
// developer machine it skips with the reason.
func Need(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s; CI must run this test (scripts/test.sh installs what it needs)", msg)
	}
	t.Skip(msg)
}
