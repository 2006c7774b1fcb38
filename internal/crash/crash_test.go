package crash

import (
	"strings"
	"testing"
)

// boom panics with an index out of range, as the interactive mode did.
func boom() {
	var s []string
	_ = s[0]
}

func TestCatchAndRethrow(t *testing.T) {
	if p := Catch(func() {}); p != nil {
		t.Fatalf("no panic gave %v", p)
	}
	p := Catch(boom)
	if p == nil || !strings.Contains(p.Error(), "index out of range") || !strings.Contains(string(p.Stack), "crash.boom") {
		t.Fatalf("Catch = %+v", p)
	}
	var got *Panic
	func() {
		defer Recover(func(q *Panic) { got = q })
		Rethrow(Catch(boom))
	}()
	// The stack is where the panic happened, not where it was carried to.
	if got == nil || !strings.Contains(string(got.Stack), "crash.boom") {
		t.Fatalf("Recover after Rethrow = %+v", got)
	}
	func() {
		defer Recover(func(q *Panic) { got = q })
		panic("plain")
	}()
	if got.Value != "plain" || len(got.Stack) == 0 {
		t.Fatalf("Recover of a plain panic = %+v", got)
	}
	Rethrow(nil) // no panic
}
