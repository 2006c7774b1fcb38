package egress

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// target is an in-process SSH server standing in for a target host. Its
// "shell" understands a few exec commands:
//
//	exit N        exit with status N
//	echo WORDS    print WORDS
//	cat           copy stdin to stdout until EOF
//	size          print the pty's "rows cols"
//	winch         wait for a window change, print "rows cols"
//	waitsig       wait for a signal, then exit with exit-signal of the same name
//	bulk N        write N bytes of zeros
//	stderr WORDS  print WORDS on stderr, exit 3
//	noexit        close without exit status
//	hang          never answer (until the channel is closed)
//	env NAME      print the value of env NAME
//	knock N       ask the bastion N times for a global request (with a reply) and a channel
//	              back, print "refused R of 2N", exit 0
//	idle          print "ready", then wait for "go" on stdin, then knock 20 and exit
type target struct {
	t       *testing.T
	ln      net.Listener
	hostKey ssh.Signer
	mu      sync.Mutex
	allowed map[string]bool // marshalled public keys
	conns   sync.WaitGroup
	// password, when set, is accepted by the password method; tries are the times of every
	// password try.
	password string
	tries    []time.Time
}

func newTarget(t *testing.T) *target {
	t.Helper()
	g, err := GenerateKey(rand.Reader, AlgoEd25519, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	hk, err := ParseSigner(g.PrivatePEM)
	if err != nil {
		t.Fatal(err)
	}
	return startTarget(t, hk, "127.0.0.1:0")
}

func startTarget(t *testing.T, hostKey ssh.Signer, addr string) *target {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	tg := &target{t: t, ln: ln, hostKey: hostKey, allowed: map[string]bool{}}
	go tg.serve()
	t.Cleanup(func() {
		ln.Close()
		tg.conns.Wait()
	})
	return tg
}

func (tg *target) allow(pub ssh.PublicKey) {
	tg.mu.Lock()
	tg.allowed[string(pub.Marshal())] = true
	tg.mu.Unlock()
}

func (tg *target) Target(user string) Target {
	host, port, _ := net.SplitHostPort(tg.ln.Addr().String())
	p, _ := strconv.Atoi(port)
	return Target{User: user, Host: host, Port: p}
}

func (tg *target) serve() {
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			tg.mu.Lock()
			ok := tg.allowed[string(key.Marshal())]
			tg.mu.Unlock()
			if ok {
				return nil, nil
			}
			return nil, fmt.Errorf("key not allowed")
		},
	}
	cfg.PasswordCallback = func(_ ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
		tg.mu.Lock()
		defer tg.mu.Unlock()
		tg.tries = append(tg.tries, time.Now())
		if tg.password != "" && string(pw) == tg.password {
			return nil, nil
		}
		return nil, fmt.Errorf("wrong password")
	}
	cfg.AddHostKey(tg.hostKey)
	for {
		c, err := tg.ln.Accept()
		if err != nil {
			return
		}
		tg.conns.Add(1)
		go func() {
			defer tg.conns.Done()
			defer c.Close()
			sc, chans, reqs, err := ssh.NewServerConn(c, cfg)
			if err != nil {
				return
			}
			defer sc.Close()
			go ssh.DiscardRequests(reqs)
			var wg sync.WaitGroup
			for nc := range chans {
				if nc.ChannelType() != "session" {
					nc.Reject(ssh.UnknownChannelType, "no")
					continue
				}
				ch, creqs, err := nc.Accept()
				if err != nil {
					continue
				}
				wg.Add(1)
				go func() { defer wg.Done(); handleSession(sc, ch, creqs) }()
			}
			wg.Wait()
		}()
	}
}

func handleSession(sc *ssh.ServerConn, ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	var rows, cols uint32
	env := map[string]string{}
	winch := make(chan [2]uint32, 16)
	sigs := make(chan string, 16)
	var cmd string
	started := false
	for !started {
		r, ok := <-reqs
		if !ok {
			return
		}
		switch r.Type {
		case "env":
			var m struct{ Name, Value string }
			ssh.Unmarshal(r.Payload, &m)
			env[m.Name] = m.Value
			r.Reply(true, nil)
		case "pty-req":
			var m struct {
				Term          string
				Cols, Rows    uint32
				Width, Height uint32
				Modes         string
			}
			ssh.Unmarshal(r.Payload, &m)
			rows, cols = m.Rows, m.Cols
			r.Reply(true, nil)
		case "exec":
			var m struct{ Command string }
			ssh.Unmarshal(r.Payload, &m)
			cmd = m.Command
			started = true
			r.Reply(true, nil)
		case "shell":
			started = true
			r.Reply(true, nil)
		default:
			r.Reply(false, nil)
		}
	}
	go func() {
		for r := range reqs {
			switch r.Type {
			case "window-change":
				var m struct{ Cols, Rows, W, H uint32 }
				ssh.Unmarshal(r.Payload, &m)
				winch <- [2]uint32{m.Rows, m.Cols}
			case "signal":
				var m struct{ Signal string }
				ssh.Unmarshal(r.Payload, &m)
				sigs <- m.Signal
			}
			if r.WantReply {
				r.Reply(false, nil)
			}
		}
		close(sigs)
	}()
	exit := func(n int) { ch.SendRequest("exit-status", false, ssh.Marshal(struct{ S uint32 }{uint32(n)})) }
	verb, arg, _ := strings.Cut(cmd, " ")
	switch verb {
	case "exit":
		n, _ := strconv.Atoi(arg)
		exit(n)
	case "echo":
		fmt.Fprintf(ch, "%s\n", arg)
		exit(0)
	case "cat":
		io.Copy(ch, ch)
		exit(0)
	case "size":
		fmt.Fprintf(ch, "%d %d\n", rows, cols)
		exit(0)
	case "winch":
		w := <-winch
		fmt.Fprintf(ch, "%d %d\n", w[0], w[1])
		exit(0)
	case "waitsig":
		io.WriteString(ch, "ready\n")
		s, ok := <-sigs
		if ok {
			ch.SendRequest("exit-signal", false, ssh.Marshal(struct {
				Signal     string
				CoreDumped bool
				Error      string
				Lang       string
			}{s, false, "", ""}))
		}
	case "bulk":
		n, _ := strconv.Atoi(arg)
		buf := make([]byte, 64<<10)
		for n > 0 {
			m := min(n, len(buf))
			if _, err := ch.Write(buf[:m]); err != nil {
				return
			}
			n -= m
		}
		exit(0)
	case "stderr":
		fmt.Fprintf(ch.Stderr(), "%s\n", arg)
		exit(3)
	case "env":
		fmt.Fprintf(ch, "%s\n", env[arg])
		exit(0)
	case "knock":
		n, _ := strconv.Atoi(arg)
		fmt.Fprintf(ch, "refused %d of %d\n", knock(sc, n), 2*n)
		exit(0)
	case "idle":
		io.WriteString(ch, "ready\n")
		line := make([]byte, 3)
		if _, err := io.ReadFull(ch, line); err != nil || string(line) != "go\n" {
			exit(1)
			break
		}
		fmt.Fprintf(ch, "refused %d of %d\n", knock(sc, 20), 40)
		exit(0)
	case "noexit":
	case "hang":
		io.Copy(io.Discard, ch) // returns when the client closes
	default:
		fmt.Fprintf(ch.Stderr(), "unknown command %q\n", cmd)
		exit(127)
	}
	ch.CloseWrite()
}

// knock asks the client of sc for n global requests and n channels back (more than x/crypto
// queues, 16 each) and returns how many were refused; a request or channel that was accepted
// or never answered counts as not refused.
func knock(sc *ssh.ServerConn, n int) int {
	refused := 0
	for range n {
		ok, _, err := sc.SendRequest("keepalive@openssh.com", true, nil)
		if err == nil && !ok {
			refused++
		}
		ch, _, err := sc.OpenChannel("forwarded-tcpip", ssh.Marshal(struct {
			Addr       string
			Port       uint32
			OriginAddr string
			OriginPort uint32
		}{"127.0.0.1", 22, "127.0.0.1", 4242}))
		var oce *ssh.OpenChannelError
		if errors.As(err, &oce) && oce.Reason == ssh.Prohibited {
			refused++
		}
		if ch != nil {
			ch.Close()
		}
	}
	return refused
}

// client dials tg as user with a fresh key the target accepts.
func (tg *target) client(t *testing.T) (ssh.Conn, *MemoryKnownHosts) {
	t.Helper()
	s := newSigner(t)
	tg.allow(s.PublicKey())
	kh := &MemoryKnownHosts{}
	c, err := Dial(t.Context(), tg.Target("root"), []ssh.Signer{s}, HostKeyPolicy{Account: "alice", Store: kh})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, kh
}

func newSigner(t *testing.T) ssh.Signer {
	t.Helper()
	g, err := GenerateKey(rand.Reader, AlgoEd25519, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	s, err := ParseSigner(g.PrivatePEM)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// checkGoroutines fails the test if, after f and a short settling time,
// more goroutines run than before. It must not run in parallel tests.
func checkGoroutines(t *testing.T, f func()) {
	t.Helper()
	before := runtime.NumGoroutine()
	f()
	deadline := time.Now().Add(3 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= before {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("goroutines: %d before, %d after\n%s", before, n, stacksOfInterest(buf))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func stacksOfInterest(all []byte) string {
	var out bytes.Buffer
	for _, g := range bytes.Split(all, []byte("\n\n")) {
		if bytes.Contains(g, []byte("testing.tRunner")) || bytes.Contains(g, []byte("testing.(*M)")) {
			continue
		}
		out.Write(g)
		out.WriteString("\n\n")
	}
	return out.String()
}
