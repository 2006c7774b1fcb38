package egress

import (
	"context"
	"sync/atomic"
)

// Subsystem names the SSH subsystem ("sftp") a session asks of the target instead of a command.
// It is set by the ingress side once the client asks for it, and read when the target session
// is set up. It travels in the context, not in the command line, so no text a user types can
// turn an exec into a subsystem.
//
// It also carries the id of the session that runs it, once the session is tracked, so that the
// file operations the ingress side audits on the stream name their session (uniqid), as on the
// plain path: an auditor goes from "who read /etc/shadow" to the session row and recording.
type Subsystem struct {
	name    atomic.Pointer[string]
	session atomic.Pointer[string]
}

// SetSession notes the id of the session that carries the subsystem.
func (s *Subsystem) SetSession(id string) { s.session.Store(&id) }

// Session is the id SetSession noted, "" before (or when s is nil).
func (s *Subsystem) Session() string {
	if s == nil {
		return ""
	}
	if p := s.session.Load(); p != nil {
		return *p
	}
	return ""
}

// NoteSession notes id on the Subsystem ctx carries, if it carries one.
func NoteSession(ctx context.Context, id string) {
	if sub, _ := ctx.Value(subsystemKey{}).(*Subsystem); sub != nil {
		sub.SetSession(id)
	}
}

// Set names the subsystem.
func (s *Subsystem) Set(name string) { s.name.Store(&name) }

// Name is the subsystem named, "" when none.
func (s *Subsystem) Name() string {
	if s == nil {
		return ""
	}
	if p := s.name.Load(); p != nil {
		return *p
	}
	return ""
}

type subsystemKey struct{}

// WithSubsystem returns ctx carrying sub.
func WithSubsystem(ctx context.Context, sub *Subsystem) context.Context {
	return context.WithValue(ctx, subsystemKey{}, sub)
}

// SubsystemFrom is the subsystem ctx carries, "" when none.
func SubsystemFrom(ctx context.Context) string {
	sub, _ := ctx.Value(subsystemKey{}).(*Subsystem)
	return sub.Name()
}
