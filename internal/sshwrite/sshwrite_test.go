package sshwrite

import (
	"bytes"
	"errors"
	"net"
	"sync"
	"testing"
	"time"
)

// TestHeldWriteAlone: a held write that no write follows still goes out, alone, before anything
// written after it; an error is reported and stays.
func TestHeldWriteAlone(t *testing.T) {
	var mu sync.Mutex
	var sent [][]byte
	arrived := make(chan struct{}, 8)
	fail := false
	j := NewJoiner(func(first, rest []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		if fail {
			return 0, errors.New("broken pipe")
		}
		sent = append(sent, append(append([]byte(nil), first...), rest...))
		arrived <- struct{}{}
		return len(first) + len(rest), nil
	})
	held := bytes.Repeat([]byte{'h'}, joinHeld)
	if n, err := j.Write(held); n != joinHeld || err != nil {
		t.Fatalf("held write: %d, %v", n, err)
	}
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("a held write was never sent")
	}
	if n, err := j.Write([]byte("next")); n != 4 || err != nil {
		t.Fatalf("next write: %d, %v", n, err)
	}
	<-arrived
	mu.Lock()
	if len(sent) != 2 || !bytes.Equal(sent[0], held) || string(sent[1]) != "next" {
		t.Fatalf("sent %d writes", len(sent))
	}
	fail = true
	mu.Unlock()
	if joined, alone := j.Counts(); joined != 0 || alone != 1 {
		t.Fatalf("joined %d, alone %d", joined, alone)
	}
	if _, err := j.Write(held); err != nil {
		t.Fatalf("a held write fails before anything is sent: %v", err)
	}
	if n, err := j.Write([]byte("rest")); err == nil || n != 0 {
		t.Fatalf("a failed joined write: %d, %v", n, err)
	}
	if _, err := j.Write([]byte("later")); err == nil {
		t.Fatal("an error was forgotten")
	}
	j.Close()
}

// TestJoinedInOrder: a held write and the next go out as one, first the held bytes; writes of
// other sizes go out as they come.
func TestJoinedInOrder(t *testing.T) {
	var out bytes.Buffer
	var sizes []int
	j := NewJoiner(Copying(writerFunc(func(p []byte) (int, error) {
		sizes = append(sizes, len(p))
		return out.Write(p)
	})))
	a := bytes.Repeat([]byte{'a'}, joinHeld)
	b := bytes.Repeat([]byte{'b'}, 28000)
	for _, p := range [][]byte{a, b, []byte("small"), a, []byte("c")} {
		if n, err := j.Write(p); n != len(p) || err != nil {
			t.Fatalf("write %d: %d, %v", len(p), n, err)
		}
	}
	want := append(append(append(append(append([]byte(nil), a...), b...), "small"...), a...), "c"...)
	if !bytes.Equal(out.Bytes(), want) {
		t.Fatal("the bytes differ")
	}
	if len(sizes) != 3 || sizes[0] != joinHeld+28000 || sizes[1] != 5 || sizes[2] != joinHeld+1 {
		t.Fatalf("writes %v", sizes)
	}
	j.Close()
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestCloseSendsHeld: closing sends what is held at once (the connection's last bytes are not
// left to the timer), and the timer then finds nothing to send.
func TestCloseDropsHeldAndNeverWaits(t *testing.T) {
	var mu sync.Mutex
	var out bytes.Buffer
	j := NewJoiner(Copying(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return out.Write(p)
	})))
	held := bytes.Repeat([]byte{'x'}, joinHeld)
	if _, err := j.Write(held); err != nil {
		t.Fatal(err)
	}
	j.Close()
	mu.Lock()
	got := out.Len()
	mu.Unlock()
	if got != 0 {
		t.Fatalf("%d bytes sent at close, want the held half-packet dropped", got)
	}
	if _, err := j.Write([]byte("late")); err == nil {
		t.Fatal("a write after Close succeeded")
	}

	// A peer that stopped reading: the write waits forever; Close must return at once, so that
	// the caller can close what is under it (which is what ends the write).
	stuck, release := make(chan struct{}), make(chan struct{})
	j = NewJoiner(Copying(writerFunc(func(p []byte) (int, error) {
		close(stuck)
		<-release
		return 0, net.ErrClosed
	})))
	go func() { _, _ = j.Write([]byte("blocked")) }()
	<-stuck
	closed := make(chan struct{})
	go func() { j.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close waited for a write blocked on the peer")
	}
	close(release)
}
