package ingress

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"

	"gatehouse/internal/sshwrite"
)

// pipeChannel is one end of a net.Pipe as an ssh.Channel (a jump's outer channel), recording
// the size of every write it is given.
type pipeChannel struct {
	net.Conn
	mu    sync.Mutex
	sizes []int
	small int // reads with a buffer under 32 KiB
}

func (c *pipeChannel) Read(p []byte) (int, error) {
	c.mu.Lock()
	if len(p) < 32<<10 {
		c.small++
	}
	c.mu.Unlock()
	return c.Conn.Read(p)
}

func (c *pipeChannel) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.sizes = append(c.sizes, len(p))
	c.mu.Unlock()
	return c.Conn.Write(p)
}
func (c *pipeChannel) CloseWrite() error { return nil }
func (c *pipeChannel) SendRequest(string, bool, []byte) (bool, error) {
	return false, errors.New("no requests")
}
func (c *pipeChannel) Stderr() io.ReadWriter { return nil }

func (c *pipeChannel) take() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.sizes
	c.sizes = nil
	return s
}

// sshOver runs an SSH server on server and a client on client (x/crypto both) with cipher,
// opens a session channel and returns both ends of it.
func sshOver(t testing.TB, server, client net.Conn, cipher string) (srv, cli ssh.Channel) {
	t.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	hk, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	scfg := &ssh.ServerConfig{NoClientAuth: true, Config: ssh.Config{Ciphers: []string{cipher}}}
	scfg.AddHostKey(hk)
	type side struct {
		ch  ssh.Channel
		err error
	}
	got := make(chan side, 1)
	go func() {
		sc, chans, reqs, err := ssh.NewServerConn(server, scfg)
		if err != nil {
			got <- side{err: err}
			return
		}
		t.Cleanup(func() { _ = sc.Close() })
		go ssh.DiscardRequests(reqs)
		nch := <-chans
		ch, creqs, err := nch.Accept()
		if err == nil {
			go ssh.DiscardRequests(creqs)
		}
		got <- side{ch, err}
	}()
	ccfg := &ssh.ClientConfig{User: "u", HostKeyCallback: ssh.InsecureIgnoreHostKey(), Config: ssh.Config{Ciphers: []string{cipher}}}
	cc, cchans, creqs, err := ssh.NewClientConn(client, "pipe", ccfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	c := ssh.NewClient(cc, cchans, creqs)
	cch, reqs, err := c.OpenChannel("session", nil)
	if err != nil {
		t.Fatal(err)
	}
	go ssh.DiscardRequests(reqs)
	s := <-got
	if s.err != nil {
		t.Fatal(s.err)
	}
	return s.ch, cch
}

// TestJumpInnerPacketIsOneOuterWrite: over a jump's outer channel (chanConn), each packet of
// the inner SSH connection is one write of the outer channel, so one outer packet, not two
// (bufio's 4096-byte flush, then the rest: what it was before writeJoiner); the bytes arrive
// whole and in order, in both directions, with every cipher gatehouse can be configured with.
func TestJumpInnerPacketIsOneOuterWrite(t *testing.T) {
	for _, cipher := range []string{"aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "chacha20-poly1305@openssh.com", "aes128-ctr", "aes256-ctr"} {
		t.Run(cipher, func(t *testing.T) {
			a, b := tcpPair(t)
			outer := &pipeChannel{Conn: a}
			cc := newChanConn(outer, a.LocalAddr(), a.RemoteAddr())
			srv, cli := sshOver(t, cc, b, cipher)
			outer.take() // the handshake's writes
			data := make([]byte, 4<<20)
			_, _ = rand.Read(data)
			errc := make(chan error, 1)
			go func() {
				_, err := srv.Write(data) // in pieces of the client's max packet (32 KiB)
				errc <- err
			}()
			got := make([]byte, len(data))
			if _, err := io.ReadFull(cli, got); err != nil {
				t.Fatal(err)
			}
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data) {
				t.Fatal("the bytes differ")
			}
			sizes := outer.take()
			packets := len(data) / (32 << 10)
			big, lone := 0, 0
			for _, s := range sizes {
				if s == 4096 { // bufio's full buffer: the first part of a packet
					lone++
				}
				if s > 16<<10 {
					big++
				}
			}
			// Only the safety timer sends a held write alone: when this goroutine was stopped
			// for 10 ms between a packet's two writes (a loaded machine, the race detector).
			if _, alone := cc.j.Counts(); lone > alone || alone > packets/20 {
				t.Fatalf("%d lone writes of 4096 bytes (bufio's flush) reached the outer channel, %d sent alone by the timer, for %d packets: %v", lone, alone, packets, sizes[:min(len(sizes), 20)])
			}
			// One write per data packet, the window adjusts aside (small ones).
			if big < packets || big > packets+packets/10 {
				t.Fatalf("%d large writes for %d packets of 32 KiB: %v", big, packets, sizes[:min(len(sizes), 20)])
			}
			// The other way (an upload): the client's packets arrive whole at the server, read
			// from the outer channel ahead, never by bufio's 4096-byte fills (a read, and maybe a
			// window adjust to the client, per packet on top of the rest's).
			outer.mu.Lock()
			outer.small = 0
			outer.mu.Unlock()
			go func() {
				_, err := cli.Write(data[:1<<20])
				errc <- err
			}()
			if _, err := io.ReadFull(srv, got[:1<<20]); err != nil {
				t.Fatal(err)
			}
			if err := <-errc; err != nil || !bytes.Equal(got[:1<<20], data[:1<<20]) {
				t.Fatalf("upload: err %v, same bytes %v", err, bytes.Equal(got[:1<<20], data[:1<<20]))
			}
			outer.mu.Lock()
			small := outer.small
			outer.mu.Unlock()
			if small > 0 {
				t.Fatalf("%d reads of the outer channel with a buffer under 32 KiB", small)
			}
		})
	}
}

// tcpPair is two ends of a loopback TCP connection (x/crypto's handshake needs buffered ends:
// both sides send their version first).
func tcpPair(t testing.TB) (server, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("no connection accepted")
	}
	t.Cleanup(func() { _ = server.Close(); _ = client.Close() })
	return server, client
}

// TestClientConnPacketIsOneWrite: on a client's TCP connection (newJoinConn), each SSH packet
// leaves in one writev: no write is held alone, and the bytes arrive whole.
func TestClientConnPacketIsOneWrite(t *testing.T) {
	raw, client := tcpPair(t)
	jc := newJoinConn(newQuickAckConn(raw))
	j := jc.(*sshwrite.Conn).J
	srv, cli := sshOver(t, jc, client, "aes128-gcm@openssh.com")
	data := make([]byte, 8<<20)
	_, _ = rand.Read(data)
	joined0, alone0 := j.Counts()
	errc := make(chan error, 1)
	go func() {
		_, err := srv.Write(data)
		errc <- err
	}()
	got := make([]byte, len(data))
	if _, err := io.ReadFull(cli, got); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil || !bytes.Equal(got, data) {
		t.Fatalf("err %v, same bytes %v", err, bytes.Equal(got, data))
	}
	joined, alone := j.Counts()
	joined, alone = joined-joined0, alone-alone0
	if packets := len(data) / (32 << 10); joined < packets || alone > joined/100 {
		t.Fatalf("%d packets joined, %d held writes sent alone, for %d packets", joined, alone, packets)
	}
}
