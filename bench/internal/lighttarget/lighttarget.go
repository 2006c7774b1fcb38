// Package lighttarget is an SSH server for benchmarks that hold thousands of idle relayed
// sessions: OpenSSH's sshd forks a process (and a sleep) per session, which would fill a small
// machine before gatehouse does. It accepts any public key (a benchmark's own loopback target,
// never a real server), answers a session's exec or shell request by writing "ready\n", then
// echoes what the session sends (a round trip proves the session live), and keeps the session
// open, idle, until the client closes it.
package lighttarget

import (
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"net"
	"sync"
	"sync/atomic"

	"golang.org/x/crypto/ssh"
)

// Server is a running light target.
type Server struct {
	Port  int
	ln    net.Listener
	cfg   *ssh.ServerConfig
	held  atomic.Int64
	mu    sync.Mutex
	conns map[*ssh.ServerConn]struct{}
	wg    sync.WaitGroup
}

// Start listens on 127.0.0.1 on a free port.
func Start() (*Server, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, err
	}
	cfg := &ssh.ServerConfig{PublicKeyCallback: func(ssh.ConnMetadata, ssh.PublicKey) (*ssh.Permissions, error) { return nil, nil }}
	cfg.AddHostKey(signer)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{Port: ln.Addr().(*net.TCPAddr).Port, ln: ln, cfg: cfg, conns: map[*ssh.ServerConn]struct{}{}}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Held is how many sessions have printed "ready" and are open now.
func (s *Server) Held() int { return int(s.held.Load()) }

// Close stops listening and closes every connection.
func (s *Server) Close() {
	s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// CloseAll closes every connection (the sessions end) and keeps listening.
func (s *Server) CloseAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.Close()
	}
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serve(nc)
		}()
	}
}

func (s *Server) serve(nc net.Conn) {
	conn, chans, reqs, err := ssh.NewServerConn(nc, s.cfg)
	if err != nil {
		nc.Close()
		return
	}
	s.mu.Lock()
	s.conns[conn] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, conn)
		s.mu.Unlock()
		conn.Close()
	}()
	go ssh.DiscardRequests(reqs)
	for nch := range chans {
		if nch.ChannelType() != "session" {
			_ = nch.Reject(ssh.UnknownChannelType, "session only")
			continue
		}
		ch, creqs, err := nch.Accept()
		if err != nil {
			continue
		}
		go s.session(ch, creqs)
	}
}

func (s *Server) session(ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	started := false
	for req := range reqs {
		switch req.Type {
		case "exec", "shell":
			if started {
				_ = req.Reply(false, nil)
				continue
			}
			started = true
			_ = req.Reply(true, nil)
			if _, err := ch.Write([]byte("ready\n")); err == nil {
				s.held.Add(1)
				defer s.held.Add(-1) //lint:ignore SA9001 one held session per channel: released when the channel's requests end
				// Then it echoes its input: a round trip through the relay proves the session
				// is live end to end.
				go func() { _, _ = io.Copy(ch, ch) }()
			}
		default:
			_ = req.Reply(req.Type == "env" || req.Type == "pty-req" || req.Type == "window-change", nil)
		}
	}
}
