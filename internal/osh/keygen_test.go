package osh

import (
	"context"
	"errors"
	"testing"
)

// TestKeyGenSlot: no bound without KeyGen; with it, a full set of slots makes the next caller
// wait until its context ends (the client gone: an error, no slot), and a release frees one.
func TestKeyGenSlot(t *testing.T) {
	if release, err := (&Env{}).KeyGenSlot(context.Background()); err != nil {
		t.Fatal(err)
	} else {
		release()
	}
	e := &Env{KeyGen: make(chan struct{}, 2)}
	r1, err1 := e.KeyGenSlot(context.Background())
	_, err2 := e.KeyGenSlot(context.Background())
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.KeyGenSlot(gone); !errors.Is(err, context.Canceled) {
		t.Fatalf("a third caller with both slots taken: %v, want context.Canceled", err)
	}
	r1()
	r3, err := e.KeyGenSlot(context.Background()) // would wait for ever without the release
	if err != nil {
		t.Fatalf("after a release: %v", err)
	}
	r3()
}
