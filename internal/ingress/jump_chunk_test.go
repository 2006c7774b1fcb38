package ingress

import (
	"bytes"
	"testing"

	"golang.org/x/crypto/ssh"

	"gatehouse/internal/egress"
)

// sizesChannel records the size of each write.
type sizesChannel struct {
	ssh.Channel
	sizes []int
	got   bytes.Buffer
}

func (c *sizesChannel) Write(p []byte) (int, error) {
	c.sizes = append(c.sizes, len(p))
	return c.got.Write(p)
}

// TestInnerChannelWritesFitOuterPackets: what a jump's inner session sends goes in pieces whose
// SSH packet (framing at its largest) fits one 32 KiB packet of the outer channel; the bytes are
// all there, in order; a channel that is not nested is written as given.
func TestInnerChannelWritesFitOuterPackets(t *testing.T) {
	const framing = 9 + 4 + 1 + 19 + 32 // channel data header, length, padding length, padding, tag
	if innerChunk+framing > 32*1024 {
		t.Fatalf("an inner packet of %d data bytes is %d bytes framed, more than 32 KiB", innerChunk, innerChunk+framing)
	}
	data := bytes.Repeat([]byte("0123456789abcdef"), 200_000/16+1)
	for _, nested := range []bool{true, false} {
		fake := &sizesChannel{}
		c := &sftpAuditChannel{Channel: fake, sub: new(egress.Subsystem), nested: nested}
		n, err := c.Write(data)
		if err != nil || n != len(data) || !bytes.Equal(fake.got.Bytes(), data) {
			t.Fatalf("nested %v: wrote %d of %d, err %v, same bytes %v", nested, n, len(data), err, bytes.Equal(fake.got.Bytes(), data))
		}
		for _, s := range fake.sizes {
			if nested && s > innerChunk {
				t.Fatalf("a write of %d bytes on a nested channel", s)
			}
		}
		if !nested && len(fake.sizes) != 1 {
			t.Fatalf("a channel that is not nested got %d writes", len(fake.sizes))
		}
	}
}
