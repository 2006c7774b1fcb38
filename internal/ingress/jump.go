package ingress

// ProxyJump (`ssh -J alice@bastion root@10.0.0.5`): the client opens a direct-tcpip channel on its
// authenticated connection to gatehouse and speaks SSH inside it to "10.0.0.5". Instead of
// forwarding raw TCP (which would let the bytes past the bastion unrecorded), gatehouse answers
// that channel with an SSH server of its own: the inner session ends here, and each of its
// session channels is served exactly as `alice@bastion -- root@10.0.0.5 -p 22 -- CMD` would be
// (access decision, MFA, egress keys, recording, audit), by the same code.
//
// Identity. The inner connection carries no identity of its own: it exists only inside an outer
// connection whose account is already proven (key and factors), and it acts as that account. So
// the inner client is accepted with the "none" method, and its user name is the TARGET's user
// (root above), never a gatehouse account. Fail closed: a user name that is not a valid remote
// user, or a target host that is not a valid host, ends the inner connection before any channel.

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"gatehouse/internal/access"
	"gatehouse/internal/audit"
	"gatehouse/internal/egress"
	"gatehouse/internal/sshwrite"
	"gatehouse/internal/transfer"
)

// JumpCAFile is the host CA key's file name in the data directory.
const JumpCAFile = "jump_host_ca_ed25519_key"

// Jump serves the SSH servers gatehouse answers ProxyJump channels with. Its host certificates
// are made for each target name on demand, signed by CA; clients trust CA once with the
// `@cert-authority` line that CertAuthorityLine gives.
type Jump struct {
	CA  ssh.Signer
	Now func() time.Time
	// Count, when set, hears the type of every audit event of the jumps (metrics).
	Count func(event string)

	key   ssh.Signer // one in-memory host key; only its certificates differ per target
	mu    sync.Mutex
	certs map[string]jumpCert
}

type jumpCert struct {
	signer ssh.Signer
	until  time.Time
}

// LoadOrCreateJumpCA returns the jump host CA of dir, creating it (0600) on first use.
func LoadOrCreateJumpCA(dir string) (*Jump, error) {
	path := filepath.Join(dir, JumpCAFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		data, err = newHostKey(path, "ed25519")
	}
	if err != nil {
		return nil, fmt.Errorf("jump host CA %s: %w", path, err)
	}
	ca, err := ssh.ParsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("jump host CA %s does not parse: %w", path, err)
	}
	return NewJump(ca)
}

// NewJump returns a Jump whose certificates ca signs.
func NewJump(ca ssh.Signer) (*Jump, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	key, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, err
	}
	return &Jump{CA: ca, key: key, certs: map[string]jumpCert{}}, nil
}

// CertAuthorityLine is the known_hosts line that makes a client trust the inner servers.
func (j *Jump) CertAuthorityLine(hosts string) string {
	return "@cert-authority " + hosts + " " + j.CAPublicKey()
}

// CAPublicKey is the CA's public key in authorized_keys form.
func (j *Jump) CAPublicKey() string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(j.CA.PublicKey())))
}

// jumpCertLife is how long a target's host certificate is valid; it is remade well before.
const jumpCertLife = 24 * time.Hour

// hostSigner is the host key for target host: a certificate naming it alone.
func (j *Jump) hostSigner(host string) (ssh.Signer, error) {
	now := time.Now()
	if j.Now != nil {
		now = j.Now()
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if c, ok := j.certs[host]; ok && now.Before(c.until.Add(-time.Hour)) {
		return c.signer, nil
	}
	cert := &ssh.Certificate{
		Key: j.key.PublicKey(), CertType: ssh.HostCert, KeyId: "gatehouse jump " + host,
		ValidPrincipals: []string{host},
		ValidAfter:      uint64(now.Add(-5 * time.Minute).Unix()), ValidBefore: uint64(now.Add(jumpCertLife).Unix()),
	}
	if err := cert.SignCert(rand.Reader, j.CA); err != nil {
		return nil, fmt.Errorf("sign host certificate for %s: %w", host, err)
	}
	signer, err := ssh.NewCertSigner(cert, j.key)
	if err != nil {
		return nil, err
	}
	if len(j.certs) > 4096 { // bounded: names are the client's choice
		clear(j.certs)
	}
	j.certs[host] = jumpCert{signer, now.Add(jumpCertLife)}
	return signer, nil
}

// directTCPIP is RFC 4254 7.2's payload.
type directTCPIP struct {
	Host     string
	Port     uint32
	OrigIP   string
	OrigPort uint32
}

// JumpTarget is where a ProxyJump channel leads.
type JumpTarget struct {
	Host string
	Port int
}

// ParseJumpTarget validates a direct-tcpip request: a host gatehouse could connect to (an IP
// address or a host name, no prefix or wildcard) and a port from 1 to 65535. The host becomes a
// word of a command line, so anything else is refused.
func ParseJumpTarget(payload []byte) (JumpTarget, error) {
	var d directTCPIP
	if err := ssh.Unmarshal(payload, &d); err != nil {
		return JumpTarget{}, fmt.Errorf("bad direct-tcpip request: %w", err)
	}
	if d.Port < 1 || d.Port > 65535 {
		return JumpTarget{}, fmt.Errorf("bad port %d", d.Port)
	}
	host := strings.TrimSuffix(strings.TrimPrefix(d.Host, "["), "]")
	if err := validJumpHost(host); err != nil {
		return JumpTarget{}, err
	}
	return JumpTarget{Host: host, Port: int(d.Port)}, nil
}

// JumpLine is the command line an inner session runs, as if typed after `--` on the outer
// connection. The user and host are validated words; the command goes after `--` verbatim.
func JumpLine(user string, t JumpTarget, command string) string {
	host := t.Host
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	line := user + "@" + host + " -p " + strconv.Itoa(t.Port)
	if command != "" {
		line += " -- " + command
	}
	return line
}

// SubsystemCommand is the remote command an inner subsystem request is audited as; the egress
// side learns the subsystem from the context (egress.WithSubsystem), never from this text, so a
// user typing it gets an ordinary exec.
func SubsystemCommand(name string) string { return "subsystem " + name }

// handleJump serves one direct-tcpip channel of an authenticated outer connection.
func (s *Server) handleJump(ctx context.Context, outer *ssh.ServerConn, nch ssh.NewChannel) {
	t, err := ParseJumpTarget(nch.ExtraData())
	if err != nil {
		_ = nch.Reject(ssh.ConnectionFailed, err.Error())
		_ = s.audit(ctx, outer, "jump.denied", audit.Fields{Comment: err.Error()}) // refused either way
		return
	}
	signer, err := s.Jump.hostSigner(t.Host)
	if err != nil {
		s.log.Error("jump host certificate", "err", err)
		_ = nch.Reject(ssh.ConnectionFailed, "internal error")
		return
	}
	ch, reqs, err := nch.Accept()
	if err != nil {
		return
	}
	go ssh.DiscardRequests(reqs)
	cfg := &ssh.ServerConfig{
		Config:        ssh.Config{Ciphers: s.cfg().Ciphers},
		ServerVersion: "SSH-2.0-gatehouse",
		NoClientAuth:  true,
		NoClientAuthCallback: func(c ssh.ConnMetadata) (*ssh.Permissions, error) {
			// The outer connection proved the person; the inner name is the target's user.
			if err := access.ValidateRemoteUser(c.User(), false); err != nil {
				return nil, fmt.Errorf("%w: %v", errAuth, err)
			}
			// JIT MFA for this target, on the client's own prompt (keyboard-interactive).
			a, err := s.env.Deps().Store.GetAccount(ctx, accountOf(outer))
			if err != nil || a.ID != outer.Permissions.Extensions[extAccountID] {
				return nil, errAuth
			}
			return s.withTargetFactors(ctx, c, a, c.User(), t, &ssh.Permissions{}, nil)
		},
	}
	cfg.AddHostKey(signer)
	nc := newChanConn(ch, outer.LocalAddr(), outer.RemoteAddr())
	// The handshake runs over an already authenticated connection, but still under the login
	// grace time: a client that stalls it holds a goroutine.
	hctx, cancel := context.WithTimeout(ctx, time.Duration(s.cfg().LoginGraceTime)*time.Second)
	stop := context.AfterFunc(hctx, func() {
		if hctx.Err() == context.DeadlineExceeded {
			_ = ch.Close() // the handshake timed out: that is what is reported
		}
	})
	inner, chans, ireqs, err := ssh.NewServerConn(nc, cfg)
	stop()
	cancel()
	if err != nil {
		// Not an SSH client (a port forward, ssh -L or -D), a bad inner user, a stalled
		// handshake: nothing reached the target; the attempt is audited.
		// The handshake error is the one audited; the jump is refused whether or not it is.
		_ = ch.Close()
		_ = s.audit(ctx, outer, "jump.denied", audit.Fields{HostTo: t.Host, PortTo: t.Port, Comment: "inner SSH handshake failed: " + err.Error()})
		return
	}
	defer func() { _ = inner.Close() }() // the jump is over: the session reported its own errors
	// One end for all the forwards of this connection: a control ends each with its reason
	// before the connection goes (forwardlive.go).
	fctx, endForwards := context.WithCancelCause(ctx)
	defer endForwards(nil)
	rf := s.newRemoteForwards(fctx, endForwards, outer, inner, inner.User(), t, answeredFrom(withAnswered(ctx, inner.Permissions)))
	go rf.serve(ireqs) // ssh -R to this target (rforward.go); every other global request is refused
	defer rf.close()
	lf := s.newLocalForwards(fctx, endForwards, outer, inner, t) // ssh -L/-D through this target (jumpforward.go)
	defer lf.close()
	stopInner := context.AfterFunc(ctx, func() { _ = inner.Close() }) // the server stops: nothing to report
	defer stopInner()
	if err := s.audit(ctx, outer, "jump.open", audit.Fields{User: inner.User(), HostTo: t.Host, PortTo: t.Port}); err != nil {
		// Fail closed: a jump the audit log cannot record does not open (the deferred Close ends it).
		s.log.Error("cannot audit a jump's start, refusing it", "account", outer.User(), "err", err)
		return
	}
	// A freeze or a deletion ends the jump itself, not only its sessions and forwards
	// (jumpend.go): a client that stopped reading must not keep it, nor its outer connection.
	done := make(chan struct{})
	defer close(done)
	defer s.registerJump(outer.Permissions.Extensions[extAccountID], accountOf(outer), inner, outer,
		func(reason string) { endForwards(&forwardEnded{reason: reason}) }, done)()
	sessions := s.channels(inner, outer.User(), outer.RemoteAddr())
	for nch := range chans {
		if lf.take(nch) {
			continue
		}
		if nch.ChannelType() != "session" {
			_ = nch.Reject(ssh.Prohibited, "gatehouse accepts session channels only on a jump")
			continue
		}
		sessions.serve(nch, func() bool {
			return s.serveTarget(withAnswered(ctx, inner.Permissions), outer, nch, inner.User(), t, true, sessions)
		})
	}
	sessions.wait()
}

// serveTargetChannel serves a session channel whose target is fixed by its connection (a jump's
// inner connection, or a target in the user name) as `user@host -p port [-- CMD]` on outer's
// account: transfers checked against the protocol grants, SFTP audited.
func (s *Server) serveTargetChannel(ctx context.Context, outer *ssh.ServerConn, nch ssh.NewChannel, user string, t JumpTarget, chans *channels) (lent bool) {
	return s.serveTarget(ctx, outer, nch, user, t, false, chans)
}

// serveTarget is serveTargetChannel; nested says the channel is a jump's inner one, carried in
// an outer channel. Lent: see handleSession.
func (s *Server) serveTarget(ctx context.Context, outer *ssh.ServerConn, nch ssh.NewChannel, user string, t JumpTarget, nested bool, chans *channels) (lent bool) {
	sub := new(egress.Subsystem)
	onEvent := func(ev transfer.Event) {
		f := ev.Fields()
		f.User, f.HostTo, f.PortTo, f.UniqID = user, t.Host, t.Port, sub.Session()
		if err := s.audit(ctx, outer, "sftp."+ev.Op, f); err != nil {
			// Fail closed: a transfer the audit log cannot follow does not go on.
			s.log.Error("cannot audit a file operation, ending the session", "account", accountOf(outer), "err", err)
			_ = outer.Close() // ending it is the point
		}
	}
	check := func(p access.Protocol) error {
		err := s.protocolAllowed(ctx, outer, user, t, p)
		if err != nil {
			f := audit.Fields{User: user, HostTo: t.Host, PortTo: t.Port, Comment: err.Error(), Allowed: audit.Bool(false),
				Extra: map[string]string{"protocol": string(p)}}
			_ = s.audit(ctx, outer, "transfer.denied", f) // refused either way
		}
		return err
	}
	return s.handleSession(egress.WithSubsystem(ctx, sub), outer, &jumpChannel{NewChannel: nch, user: user, target: t, sub: sub, audit: onEvent, check: check, nested: nested}, chans)
}

// audit writes an event of the jump's outer connection to the audit log; a non-nil error means
// it is not there.
func (s *Server) audit(ctx context.Context, outer *ssh.ServerConn, typ string, f audit.Fields) error {
	if s.Jump != nil && s.Jump.Count != nil {
		s.Jump.Count(typ)
	}
	deps := s.env.Deps()
	if deps.AppendAudit == nil {
		return nil
	}
	f.Account, f.IPFrom = accountOf(outer), remoteIP(outer.RemoteAddr()).String()
	return deps.AppendAudit(ctx, audit.Event{Type: typ, Fields: f})
}

// jumpChannel is an inner session channel whose requests are rewritten into the bastion's
// command line: exec CMD and shell become `user@host -p port [-- CMD]`, subsystem NAME becomes
// the same with SubsystemCommand(NAME), its name given to egress through sub.
type jumpChannel struct {
	ssh.NewChannel
	user   string
	target JumpTarget
	sub    *egress.Subsystem
	audit  func(transfer.Event)
	// check refuses a transfer protocol the account has no grant for (its error says why).
	check func(access.Protocol) error
	// started: the channel's one exec, shell or subsystem was seen; later ones are refused
	// here, so that a subsystem cannot be named after an exec began.
	started bool
	nested  bool // a jump's inner channel (innerChunk applies)
}

func (j *jumpChannel) Accept() (ssh.Channel, <-chan *ssh.Request, error) {
	ch, reqs, err := j.NewChannel.Accept()
	if err != nil {
		return nil, nil, err
	}
	out := make(chan *ssh.Request)
	go func() {
		defer close(out)
		for req := range reqs {
			if p := requestProtocol(req); p != "" && !j.started && j.check != nil {
				if err := j.check(p); err != nil {
					// Refused as the bastion refuses a connection: the reason on stderr, then
					// The Bastion's exit status, so that the client shows why (a failed request
					// alone would only say "exec request failed").
					j.started = true
					_ = req.Reply(true, nil)
					_, _ = fmt.Fprintf(ch.Stderr(), "%v\r\n", err)
					_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{access.ExitAccessDenied}))
					_ = ch.CloseWrite()
					_ = ch.Close()
					continue
				}
			}
			if !j.rewrite(req) {
				_ = req.Reply(false, nil)
				continue
			}
			out <- req
		}
	}()
	return &sftpAuditChannel{Channel: ch, sub: j.sub, audit: j.audit, nested: j.nested}, out, nil
}

// innerChunk is the most a jump's inner channel sends in one packet: with the inner packet's
// framing (channel data header 9, length 4, padding length 1, padding at most 19, MAC or AEAD
// tag at most 32 bytes: 65 at most) it fits the 32 KiB packets of the outer channel (OpenSSH's
// CHAN_TCP_PACKET_DEFAULT). A full 32 KiB inner packet would cross the outer channel as two
// packets, each with its own encryption, write and wake-up.
const innerChunk = 32*1024 - 72

// sftpAuditChannel passes an inner session's bytes through the SFTP audit when the session is
// the sftp subsystem (known before any byte is relayed: the relay starts after the request).
// A stream the audit cannot follow ends the session.
type sftpAuditChannel struct {
	ssh.Channel
	sub   *egress.Subsystem
	audit func(transfer.Event)

	once   sync.Once
	mu     sync.Mutex
	parser *transfer.SFTP // nil: not sftp
	nested bool           // writes go in innerChunk pieces
}

func (c *sftpAuditChannel) sftp() *transfer.SFTP {
	c.once.Do(func() {
		if c.sub.Name() == "sftp" {
			c.parser = transfer.NewSFTP(c.audit)
		}
	})
	return c.parser
}

func (c *sftpAuditChannel) Read(p []byte) (int, error) {
	n, err := c.Channel.Read(p)
	if sp := c.sftp(); sp != nil && n > 0 {
		c.mu.Lock()
		perr := sp.ClientBytes(p[:n])
		c.mu.Unlock()
		if perr != nil {
			_ = c.Channel.Close() // the protocol error is the one to report
			return 0, perr
		}
	}
	return n, err
}

func (c *sftpAuditChannel) Write(p []byte) (int, error) {
	if sp := c.sftp(); sp != nil {
		c.mu.Lock()
		perr := sp.ServerBytes(p)
		c.mu.Unlock()
		if perr != nil {
			_ = c.Channel.Close() // the protocol error is the one to report
			return 0, perr
		}
	}
	if !c.nested {
		return c.Channel.Write(p)
	}
	written := 0
	for len(p) > 0 {
		k := min(len(p), innerChunk)
		n, err := c.Channel.Write(p[:k])
		written += n
		if err != nil {
			return written, err
		}
		p = p[k:]
	}
	return written, nil
}

func (c *sftpAuditChannel) Close() error {
	if sp := c.sftp(); sp != nil {
		c.mu.Lock()
		sp.Close()
		c.mu.Unlock()
	}
	return c.Channel.Close()
}

// requestProtocol is the transfer protocol a start request asks for, "" for none.
func requestProtocol(req *ssh.Request) access.Protocol {
	switch req.Type {
	case "exec":
		var cmd struct{ Command string }
		if ssh.Unmarshal(req.Payload, &cmd) == nil {
			return access.TransferOf(cmd.Command)
		}
	case "subsystem":
		var sub struct{ Name string }
		if ssh.Unmarshal(req.Payload, &sub) == nil && sub.Name == "sftp" {
			return access.ProtoSFTP
		}
	}
	return ""
}

// protocolAllowed decides a transfer protocol for the jump's account and target: the SSH
// access itself is decided when the session runs, as for any connection.
func (s *Server) protocolAllowed(ctx context.Context, outer *ssh.ServerConn, user string, t JumpTarget, p access.Protocol) error {
	a, err := s.env.Deps().Store.GetAccount(ctx, accountOf(outer))
	if err != nil || a.ID != outer.Permissions.Extensions[extAccountID] {
		//lint:ignore ST1005 The Bastion's sentence, shown to the user as is
		return errors.New("Your account no longer exists on this bastion")
	}
	in, tgt, err := s.targetInputs(ctx, a, user, t)
	if err != nil {
		return err
	}
	_, err = access.DecideProtocol(s.env.Deps().Now(), in.Account, in.Groups, in.Personal, tgt, p)
	return err
}

// rewrite turns a request into what handleSession serves; false refuses it.
func (j *jumpChannel) rewrite(req *ssh.Request) bool {
	switch req.Type {
	case "exec", "shell", "subsystem":
		if j.started {
			return false
		}
		j.started = true
	}
	switch req.Type {
	case "exec":
		var cmd struct{ Command string }
		if ssh.Unmarshal(req.Payload, &cmd) != nil || cmd.Command == "" || strings.ContainsRune(cmd.Command, 0) {
			return false
		}
		req.Payload = ssh.Marshal(struct{ Command string }{JumpLine(j.user, j.target, cmd.Command)})
	case "shell":
		req.Type = "exec"
		req.Payload = ssh.Marshal(struct{ Command string }{JumpLine(j.user, j.target, "")})
	case "subsystem":
		var sub struct{ Name string }
		if ssh.Unmarshal(req.Payload, &sub) != nil || sub.Name != "sftp" {
			return false
		}
		j.sub.Set(sub.Name)
		req.Type = "exec"
		req.Payload = ssh.Marshal(struct{ Command string }{JumpLine(j.user, j.target, SubsystemCommand(sub.Name))})
	}
	return true
}

// chanConn is an SSH channel as a net.Conn, for the inner server's transport. Its writes go
// through a sshwrite.Joiner: each inner packet crosses the outer channel as one packet. Its
// reads go ahead (readAhead): the inner transport reads each packet as a 4096-byte fill of its
// bufio.Reader and then the rest, and every read of the outer channel may send the client a
// window adjust (x/crypto adjusts on each read once 96 KiB are unacknowledged, a packet and a
// system call each): one read of up to chanReadAhead bytes serves several.
// One goroutine reads (x/crypto's read loop), as for any net.Conn under x/crypto.
type chanConn struct {
	ssh.Channel
	local, remote net.Addr
	j             *sshwrite.Joiner

	readAhead bool
	rbuf      *[]byte // bytes read ahead, [r:w] not yet given; nil when none
	r, w      int
	rerr      error // the read error that came with bytes read ahead
}

// chanReadAhead is the most a chanConn reads from the outer channel at once: two packets of
// OpenSSH's maximum.
const chanReadAhead = 64 << 10

// readAheadPool lends chanConn its read-ahead buffer while it holds unread bytes: an idle jump
// keeps none.
var readAheadPool = sync.Pool{New: func() any { b := make([]byte, chanReadAhead); return &b }}

func newChanConn(ch ssh.Channel, local, remote net.Addr) *chanConn {
	return &chanConn{Channel: ch, local: local, remote: remote, j: sshwrite.NewJoiner(sshwrite.Copying(ch)), readAhead: true}
}

func (c *chanConn) Read(p []byte) (int, error) {
	if !c.readAhead { // the benchmark's baseline
		return c.Channel.Read(p)
	}
	if c.rbuf != nil {
		n := copy(p, (*c.rbuf)[c.r:c.w])
		c.r += n
		if c.r == c.w {
			readAheadPool.Put(c.rbuf)
			c.rbuf = nil
		}
		return n, nil
	}
	if c.rerr != nil {
		return 0, c.rerr
	}
	if len(p) >= chanReadAhead {
		return c.Channel.Read(p)
	}
	b := readAheadPool.Get().(*[]byte)
	n, err := c.Channel.Read(*b)
	m := copy(p, (*b)[:n])
	if m < n {
		c.rbuf, c.r, c.w = b, m, n
		c.rerr = err // given once the bytes before it are
		return m, nil
	}
	readAheadPool.Put(b)
	return m, err
}

func (c *chanConn) Write(p []byte) (int, error) {
	if c.j == nil { // not joined (the benchmark's baseline)
		return c.Channel.Write(p)
	}
	return c.j.Write(p)
}

func (c *chanConn) Close() error {
	if c.j != nil {
		c.j.Close()
	}
	return c.Channel.Close()
}

func (c *chanConn) LocalAddr() net.Addr                { return c.local }
func (c *chanConn) RemoteAddr() net.Addr               { return c.remote }
func (c *chanConn) SetDeadline(t time.Time) error      { return nil }
func (c *chanConn) SetReadDeadline(t time.Time) error  { return nil }
func (c *chanConn) SetWriteDeadline(t time.Time) error { return nil }
