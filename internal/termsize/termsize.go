// Package termsize is the terminal size that travels from the user's client, through the
// session, to the target: one type, so window changes pass from ingress to egress without a
// goroutine translating them.
package termsize

// Size is a terminal size in characters, and in pixels when the client gives them (else 0).
type Size struct {
	Cols, Rows    uint32
	Width, Height uint32
}
