// Package crash keeps a panic inside the connection it happened in.
//
// gatehouse has one recovery point per connection, at the session boundary (internal/ingress):
// it ends that connection, logs the account and the stack, audits and counts it. Goroutines that
// a session spawns (a terminal's line reader, a relay's copies, an answer reader) are outside
// that boundary: a panic there would end the whole process. They run their work through Catch,
// hand the *Panic to the goroutine that waits for them, and that one calls Rethrow, so the panic
// reaches the one recovery point with the stack where it happened.
package crash

import (
	"fmt"
	"runtime/debug"
)

// Panic is a recovered panic and the stack where it happened.
type Panic struct {
	Value any
	Stack []byte
	// Known is what the code it crossed knew when it happened, for the recovery point to record
	// (the dispatcher sets its session.Outcome so far); nil: nothing.
	Known any
}

func (p *Panic) Error() string { return fmt.Sprintf("panic: %v", p.Value) }

// Catch runs fn and returns the panic it raised, or nil.
func Catch(fn func()) (p *Panic) {
	defer func() {
		if v := recover(); v != nil {
			p = from(v)
		}
	}()
	fn()
	return nil
}

// Rethrow panics with p when it is not nil: the waiting goroutine carries on the panic of the
// goroutine it waited for, to its own recovery point.
func Rethrow(p *Panic) {
	if p != nil {
		panic(p)
	}
}

// Recover is the recovery point: defer it (directly) where a connection's handling starts.
// report hears the panic, with the original stack when it was carried by Rethrow.
func Recover(report func(p *Panic)) {
	if v := recover(); v != nil {
		report(from(v))
	}
}

func from(v any) *Panic {
	if p, ok := v.(*Panic); ok {
		return p
	}
	return &Panic{Value: v, Stack: debug.Stack()}
}
