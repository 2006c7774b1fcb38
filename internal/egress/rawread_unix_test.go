//go:build unix

package egress

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// burstConn's raw reads of a socket (readFD through its RawConn) are the Unix poller's way
// (rawread_unix.go); elsewhere it reads through net.Conn.

// tcpPair is a loopback TCP connection: what burstConn reads through its RawConn.
func tcpPair(t testing.TB) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// waitParked waits until a goroutine waits in all of fns, and returns its stack.
func waitParked(t *testing.T, fns ...string) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
	next:
		for _, g := range strings.Split(string(buf), "\n\n") {
			for _, fn := range fns {
				if !strings.Contains(g, fn) {
					continue next
				}
			}
			return g
		}
		if time.Now().After(deadline) {
			t.Fatalf("no goroutine waits in %s:\n%s", strings.Join(fns, " and "), buf)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// burstConn on a socket reads through its RawConn with net.Conn's results: every byte in
// order whatever the read sizes, io.EOF at the end, a timeout at a read deadline, net.ErrClosed
// once closed; and it holds no bulk buffer after.
func TestBurstConnRawReads(t *testing.T) {
	a, b := tcpPair(t)
	c := newBurstConn(a)
	if c.raw == nil {
		t.Fatal("a TCP connection is not read through its RawConn")
	}
	checkBurstConn(t, c, b, func() { b.(*net.TCPConn).CloseWrite() })
	buf := make([]byte, 16)
	if n, err := c.Read(buf[:0]); n != 0 || err != nil {
		t.Fatalf("an empty read: %d, %v", n, err)
	}

	a2, _ := tcpPair(t)
	c2 := newBurstConn(a2)
	c2.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	_, err := c2.Read(buf[:10])
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past the deadline: %v, want a timeout", err)
	}
	c2.SetReadDeadline(time.Time{})
	done := make(chan error, 1)
	go func() { _, err := c2.Read(buf[:10]); done <- err }()
	waitParked(t, "egress.(*burstConn).Read")
	c2.Close()
	if err := <-done; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read of a closed connection: %v, want net.ErrClosed", err)
	}
}

// x/crypto's read loop of a target connection waits for a whole idle session in the frames
// under it, which must be x/crypto's, burstConn.Read's and RawConn's only (see
// TestBurstConnFrameIsSmall for why).
func TestBurstConnWaitsThroughRawConn(t *testing.T) {
	tg := newTarget(t)
	c, _ := tg.client(t)
	defer c.Close()
	// The target's own read loop (its server side, in this process) is another one.
	g := waitParked(t, "ssh.(*handshakeTransport).readLoop", "egress.(*burstConn).Read")
	for _, f := range []string{"net.(*rawConn).Read", "bufio.(*Reader).Read"} {
		if !strings.Contains(g, f) {
			t.Errorf("the read loop does not wait through %s:\n%s", f, g)
		}
	}
	for _, f := range []string{"sshwrite.", "net.(*conn).Read", "poll.(*FD).Read("} {
		if strings.Contains(g, f) {
			t.Errorf("the read loop waits through %s:\n%s", f, g)
		}
	}
}

// BenchmarkBurstConnRead reads 64 MiB from a loopback socket as x/crypto's read loop does
// (a bufio.Reader of 4 KiB over the connection, reads of a packet's length and body), through
// the socket's RawConn (raw) and through net.Conn's Read (netconn, as before): the CPU of the
// read path, same process, same writer.
//
//	go test -run '^$' -bench BurstConnRead -count 5 ./internal/egress
func BenchmarkBurstConnRead(b *testing.B) {
	for _, raw := range []bool{true, false} {
		name := map[bool]string{true: "raw", false: "netconn"}[raw]
		b.Run(name, func(b *testing.B) {
			const total = 64 << 20
			b.SetBytes(total)
			b.ReportAllocs()
			chunk := make([]byte, 32<<10)
			p := make([]byte, 32<<10)
			cpu0 := cpuTime()
			for range b.N {
				a, w := tcpPair(b)
				c := newBurstConn(a)
				if !raw {
					c.raw = nil
				}
				go func() {
					for sent := 0; sent < total; sent += len(chunk) {
						w.Write(chunk)
					}
					w.Close()
				}()
				br := bufio.NewReader(c)
				for got := 0; got < total; {
					n, err := io.ReadFull(br, p[:min(len(p), total-got)])
					got += n
					if err != nil {
						b.Fatal(err)
					}
				}
			}
			// Wall time swings with the machine's load; the process's CPU time does less.
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N)/(total>>20), "cpu-ns/MiB")
		})
	}
}

// cpuTime is this process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
