package ingress

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// ownedRecorder takes buffers (WriteOwned) and gives back the one it took the call before.
type ownedRecorder struct {
	got  bytes.Buffer
	prev []byte
	fail bool
}

func (o *ownedRecorder) Write(p []byte) (int, error) { return o.got.Write(p) }

func (o *ownedRecorder) WriteOwned(p []byte) ([]byte, error) {
	if o.fail {
		return p, errors.New("no space left on device")
	}
	o.got.Write(p)
	next := o.prev
	o.prev = p
	return next, nil
}

// orderedUser fails the test if it is written before the recorder got the bytes.
type orderedUser struct {
	t   *testing.T
	rec *ownedRecorder
	got bytes.Buffer
}

func (u *orderedUser) Write(p []byte) (int, error) {
	if !bytes.HasSuffix(u.rec.got.Bytes(), p) {
		u.t.Fatal("the user got bytes before the recording")
	}
	return u.got.Write(p)
}

// TestRecordFirstOwned: a relay's buffer handed over (WriteOwned) reaches the recorder first and
// then the user, and the recorder's buffer comes back for the next read; a recorder that fails
// fails the write and the user gets nothing; a recorder that cannot take buffers gets a copy
// (Write) and the caller keeps its buffer.
func TestRecordFirstOwned(t *testing.T) {
	rec := &ownedRecorder{}
	user := &orderedUser{t: t, rec: rec}
	w := recordFirst(rec, user).(*recordFirstWriter)
	a, b := []byte("first read"), []byte("second read")
	if next, err := w.WriteOwned(a); err != nil || next != nil {
		t.Fatalf("first: next %q, err %v; want nil, nil", next, err)
	}
	if next, err := w.WriteOwned(b); err != nil || &next[0] != &a[0] {
		t.Fatalf("second: err %v, want the first buffer back", err)
	}
	if user.got.String() != "first readsecond read" || rec.got.String() != user.got.String() {
		t.Fatalf("user %q, recording %q", user.got.String(), rec.got.String())
	}
	rec.fail = true
	if _, err := w.WriteOwned([]byte("lost")); err == nil || user.got.Len() != len("first readsecond read") {
		t.Fatalf("a failed recording: err %v, the user got %q", err, user.got.String())
	}

	var plainRec, plainUser bytes.Buffer
	pw := recordFirst(&plainRec, &plainUser).(*recordFirstWriter)
	c := []byte("copied")
	if next, err := pw.WriteOwned(c); err != nil || &next[0] != &c[0] || plainRec.String() != "copied" || plainUser.String() != "copied" {
		t.Fatalf("a plain recorder: err %v, recording %q, user %q", err, plainRec.String(), plainUser.String())
	}
	var _ io.Writer = pw
}
