package egress

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"math/big"
	"net"
	"testing"
	"testing/iotest"
)

// chunkReader returns data in reads of random sizes, sometimes filling p.
type chunkReader struct{ data []byte }

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	max := big.NewInt(int64(min(len(p), len(c.data))) + 1)
	r, _ := rand.Int(rand.Reader, max)
	n := int(r.Int64())
	if n == 0 {
		n = min(len(p), len(c.data)) // a full read, to enter bursts
	}
	n = copy(p, c.data[:n])
	c.data = c.data[n:]
	return n, nil
}

func TestRelay(t *testing.T) {
	data := make([]byte, 3<<20+123)
	rand.Read(data)
	for _, idle := range []int{idleBuffer, quietBuffer} {
		for name, r := range map[string]io.Reader{
			"chunks":   &chunkReader{data: data},
			"one byte": iotest.OneByteReader(bytes.NewReader(data[:100000])),
			"full":     bytes.NewReader(data),
		} {
			var out bytes.Buffer
			if err := relay(&out, r, idle); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			want := data
			if name == "one byte" {
				want = data[:100000]
			}
			if !bytes.Equal(out.Bytes(), want) {
				t.Fatalf("%s: relayed %d bytes differ from the %d sent", name, out.Len(), len(want))
			}
		}
		boom := errors.New("boom")
		if err := relay(io.Discard, iotest.ErrReader(boom), idle); !errors.Is(err, boom) {
			t.Fatalf("read error = %v", err)
		}
		if err := relay(&failWriter{}, bytes.NewReader(data), idle); err == nil {
			t.Fatal("write error lost")
		}
	}
}

func TestBurstConn(t *testing.T) {
	a, b := net.Pipe()
	checkBurstConn(t, newBurstConn(a), b, func() { b.Close() })
}

// checkBurstConn writes 5 MiB of random bytes into peer in uneven slices, as a socket
// delivers, then calls end; c must read every one in order whatever its read sizes, then
// io.EOF, and hold no bulk buffer after.
func checkBurstConn(t *testing.T, c *burstConn, peer io.Writer, end func()) {
	t.Helper()
	data := make([]byte, 5<<20+7)
	rand.Read(data)
	go func() {
		for rest := data; len(rest) > 0; {
			n := min(len(rest), 70000)
			peer.Write(rest[:n])
			rest = rest[n:]
		}
		end()
	}()
	var out bytes.Buffer
	sizes := []int{4, 4096, 32768, 17, 300000, 1}
	buf := make([]byte, 300000)
	for i := 0; ; i++ {
		n, err := c.Read(buf[:sizes[i%len(sizes)]])
		out.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(out.Bytes(), data) {
		t.Fatalf("burstConn returned %d bytes differing from the %d written", out.Len(), len(data))
	}
	if c.buf != nil {
		t.Fatal("burstConn still holds a bulk buffer after EOF")
	}
}

// lenReader records the size of each read and returns a few bytes, then EOF.
type lenReader struct {
	sizes []int
	n     int
}

func (l *lenReader) Read(p []byte) (int, error) {
	l.sizes = append(l.sizes, len(p))
	if l.n == 0 {
		return 0, io.EOF
	}
	l.n--
	p[0] = 'x'
	return 1, nil
}

// A relay waiting for a keystroke or a line of output holds at most 512 bytes: a relayed
// session has three such streams, and a bastion holds thousands of idle sessions.
func TestRelayIdleBufferIsSmall(t *testing.T) {
	r := &lenReader{n: 3}
	if err := relay(io.Discard, r, idleBuffer); err != nil {
		t.Fatal(err)
	}
	for i, n := range r.sizes {
		if n > 512 {
			t.Fatalf("read %d waited with a %d-byte buffer, want at most 512 while no burst runs", i+1, n)
		}
	}
}

// sizedReader returns the sizes it is given, one per Read (at most len(p)), then EOF, and
// records the buffer each Read was given.
type sizedReader struct {
	ns    []int
	sizes []int
}

func (r *sizedReader) Read(p []byte) (int, error) {
	r.sizes = append(r.sizes, len(p))
	if len(r.ns) == 0 {
		return 0, io.EOF
	}
	n := min(r.ns[0], len(p))
	r.ns = r.ns[1:]
	return n, nil
}

// After a burst, the read that waits for the session's next output (as long as it stays idle)
// is given the small buffer, not the pooled 256 KiB one: a burst's last read, which drained
// what was pending, came back short of full (here 200 KiB, more than half: such a read kept
// the bulk buffer for the wait before).
func TestRelayIdleAfterBurstHoldsNoBulkBuffer(t *testing.T) {
	for _, last := range []int{1, bulkBuffer / 2, 200 << 10, bulkBuffer - 1} {
		r := &sizedReader{ns: []int{idleBuffer, bulkBuffer, bulkBuffer, last, 3}}
		if err := relay(io.Discard, r, idleBuffer); err != nil {
			t.Fatal(err)
		}
		// Reads: small (full) → bulk (full) → bulk (full) → bulk (last) → the wait → EOF.
		if got := r.sizes[4]; got > idleBuffer {
			t.Errorf("after a burst whose last read brought %d bytes, the idle wait was given %d bytes, want at most %d", last, got, idleBuffer)
		}
		if got := r.sizes[1]; got != bulkBuffer {
			t.Errorf("a full small read was followed by a %d-byte read, want the bulk buffer (%d)", got, bulkBuffer)
		}
	}
}
