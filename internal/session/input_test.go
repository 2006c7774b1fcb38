package session

import (
	"io"
	"testing"
)

// TestInputBorrowGivesBack: a released borrower takes nothing more; what it did not read, and
// what comes after, reaches Read whole and in order.
func TestInputBorrowGivesBack(t *testing.T) {
	pr, pw := io.Pipe()
	in := NewInput(pr)
	r, release := in.Borrow()
	go func() { _, _ = pw.Write([]byte("ab")) }()
	buf := make([]byte, 1)
	if n, err := r.Read(buf); n != 1 || err != nil || buf[0] != 'a' {
		t.Fatalf("borrowed read: %d %v %q", n, err, buf[:n])
	}
	release()
	if n, err := r.Read(buf); n != 0 || err != io.EOF {
		t.Fatalf("read after release: %d %v", n, err)
	}
	go func() { _, _ = pw.Write([]byte("info\r")); _ = pw.Close() }()
	got, err := io.ReadAll(in)
	if err != nil || string(got) != "binfo\r" {
		t.Fatalf("after release: %q %v", got, err)
	}
}
