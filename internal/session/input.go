package session

import (
	"io"
	"sync"
)

// Input is a session's one reader of the user's input. The interactive mode's line editor and
// each relay to a server take turns on it: a relay borrows it and gives it back when it ends, and
// a byte the relay did not take stays here for the line editor. Without it the relay's copy of
// the input outlived the relay and swallowed the next keystroke typed at the prompt.
type Input struct {
	chunks chan []byte   // the pump hands each read to one reader, only when one asks
	done   chan struct{} // closed when the underlying reader failed; err says how
	err    error

	mu      sync.Mutex
	pending []byte // taken from chunks by a reader whose buffer was too small
}

// NewInput starts the pump reading r; it runs until r fails (the session's channel closes).
func NewInput(r io.Reader) *Input {
	in := &Input{chunks: make(chan []byte), done: make(chan struct{})}
	go in.pump(r)
	return in
}

func (in *Input) pump(r io.Reader) {
	for {
		buf := make([]byte, 4096)
		n, err := r.Read(buf)
		if n > 0 {
			in.chunks <- buf[:n]
		}
		if err != nil {
			in.err = err
			close(in.done)
			return
		}
	}
}

// Read reads the input, for the line editor.
func (in *Input) Read(p []byte) (int, error) { return in.read(p, nil) }

// Borrow gives a reader of the input that ends (io.EOF) once release is called, and takes
// nothing from the input afterwards: what is typed then is left for Read.
func (in *Input) Borrow() (r io.Reader, release func()) {
	released := make(chan struct{})
	var once sync.Once
	return readerFunc(func(p []byte) (int, error) { return in.read(p, released) }), func() { once.Do(func() { close(released) }) }
}

func (in *Input) read(p []byte, released <-chan struct{}) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if isClosed(released) {
		return 0, io.EOF
	}
	in.mu.Lock()
	if len(in.pending) > 0 {
		n := copy(p, in.pending)
		in.pending = in.pending[n:]
		in.mu.Unlock()
		return n, nil
	}
	in.mu.Unlock()
	select {
	case <-released:
		return 0, io.EOF
	case c := <-in.chunks:
		if isClosed(released) {
			// Released while both were ready: the chunk is not this reader's.
			in.mu.Lock()
			in.pending = append(c, in.pending...)
			in.mu.Unlock()
			return 0, io.EOF
		}
		n := copy(p, c)
		if n < len(c) {
			in.mu.Lock()
			in.pending = append(in.pending, c[n:]...)
			in.mu.Unlock()
		}
		return n, nil
	case <-in.done:
		// The pump may have handed its last chunk to nobody yet: done is closed only after.
		return 0, in.err
	}
}

// isClosed: nil (never released) is never closed.
func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// BorrowInput is Borrow when r is an Input, else r itself with a release that does nothing (a
// session with no prompt to come back to).
func BorrowInput(r io.Reader) (io.Reader, func()) {
	if in, ok := r.(*Input); ok {
		return in.Borrow()
	}
	return r, func() {}
}
