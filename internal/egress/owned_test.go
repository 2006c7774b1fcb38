package egress

import (
	"bytes"
	"crypto/rand"
	"io"
	"testing"
)

// keepingWriter is an OwnedWriter that keeps every buffer handed over for two more calls (as a
// recorder's worker does), checks that nobody wrote into it meanwhile, then gives it back;
// reads under minOwned come through Write.
type keepingWriter struct {
	t       *testing.T
	out     bytes.Buffer
	kept    [][]byte // buffers kept, oldest first
	copies  [][]byte // their bytes when handed over
	owned   int
	giveNil bool // give nothing back every other call
}

func (k *keepingWriter) Write(p []byte) (int, error) { return k.out.Write(p) }

func (k *keepingWriter) WriteOwned(p []byte) ([]byte, error) {
	k.owned++
	k.out.Write(p)
	k.kept, k.copies = append(k.kept, p), append(k.copies, bytes.Clone(p))
	if len(k.kept) < 3 || k.giveNil && k.owned%2 == 0 {
		return nil, nil
	}
	b, c := k.kept[0], k.copies[0]
	k.kept, k.copies = k.kept[1:], k.copies[1:]
	if !bytes.Equal(b, c) {
		k.t.Fatal("the relay wrote into a buffer it had handed over")
	}
	return b[:cap(b)], nil
}

// TestRelayHandsOverBulkBuffers: a relay into an OwnedWriter hands over its bulk reads of
// minOwned bytes or more, never touches a buffer it handed over until the writer gives it back,
// reads on into the buffer given back (or a pooled one when none is), and relays every byte in
// order; writerOnly hides WriteOwned (stderr's relay).
func TestRelayHandsOverBulkBuffers(t *testing.T) {
	data := make([]byte, 9<<20+77)
	rand.Read(data)
	for _, giveNil := range []bool{false, true} {
		k := &keepingWriter{t: t, giveNil: giveNil}
		if err := relay(k, &chunkReader{data: data}, idleBuffer); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(k.out.Bytes(), data) {
			t.Fatalf("relayed %d bytes differ from the %d sent", k.out.Len(), len(data))
		}
		for i := range k.kept {
			if !bytes.Equal(k.kept[i], k.copies[i]) {
				t.Fatal("the relay wrote into a buffer it had handed over")
			}
		}
		if k.owned == 0 {
			t.Fatal("no bulk read was handed over")
		}
		k2 := &keepingWriter{t: t}
		if err := relay(writerOnly{k2}, bytes.NewReader(data), idleBuffer); err != nil {
			t.Fatal(err)
		}
		if k2.owned != 0 || !bytes.Equal(k2.out.Bytes(), data) {
			t.Fatalf("through writerOnly: %d buffers handed over, want 0", k2.owned)
		}
	}
}

var _ io.Writer = writerOnly{}
