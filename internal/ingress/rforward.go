package ingress

// Remote port forwarding (ssh -R). The client asks, with a tcpip-forward global request, that
// a port be listened on "on the server". Through gatehouse the server the user means is the
// TARGET, known only on a connection whose target is fixed: a ProxyJump's inner connection, or a
// target in the user name. There, with a --remote-forward grant for that listen port on that
// target (access.DecideForwarding, ForwardRemote: the SSH access to the target is needed too,
// from the same means), gatehouse logs in to the target with the egress keys (one connection
// per client connection, made at the first request), forwards the tcpip-forward request over
// it, and relays each forwarded-tcpip channel the target opens back to the client as a
// forwarded-tcpip channel of its own. Nothing ever listens on the bastion.
//
// Audit: forward.listen when the target listens, forward.cancel for cancel-tcpip-forward,
// forward.open and forward.close (bytes_in: client to target, bytes_out: target to client) for
// each forwarded connection, forward.denied for a request without a grant (or on a connection
// without a target), forward.failed when the target cannot be reached or refuses to listen.
// Global requests are answered in order (the client matches the replies to its requests by
// their order), by one goroutine per connection.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"

	"gatehouse/internal/access"
	"gatehouse/internal/audit"
	"gatehouse/internal/crash"
	"gatehouse/internal/session"
	"gatehouse/internal/store"
)

const (
	// maxRemoteListens bounds the ports one client connection may have the target listen on.
	maxRemoteListens = 16
	// maxRemoteConns bounds the forwarded connections relayed at once for one client connection.
	maxRemoteConns = 256
	// maxBindAddress bounds the listen address a client names (a host name at most).
	maxBindAddress = 255
)

// RemoteForwardDial is what a remote forward needs to log in to its target (the connector's
// DialForward): the session it acts for, the target, the forwarding decision (its keys and MFA
// requirements), the account's egress keys, and who takes the channels the target opens.
type RemoteForwardDial struct {
	Session  *session.Session
	Target   access.Target
	Decision access.Decision
	Keys     map[string]store.EgressKey
	Channels func(ssh.NewChannel)
	// MFAOnly asks for the MFA check alone (nil, nil: it passes), for a forward carried by a
	// login made before.
	MFAOnly bool
}

// tcpipForward is RFC 4254 7.1's tcpip-forward and cancel-tcpip-forward payload.
type tcpipForward struct {
	Addr string
	Port uint32
}

// forwardedTCPIP is RFC 4254 7.2's forwarded-tcpip channel payload.
type forwardedTCPIP struct {
	Addr     string
	Port     uint32
	OrigAddr string
	OrigPort uint32
}

// ParseTCPIPForward reads a tcpip-forward (or cancel) request: a listen address of at most
// 255 bytes without NUL or control characters, and a port (0 included: the decision refuses
// it with its reason).
func ParseTCPIPForward(payload []byte) (addr string, port int, err error) {
	var p tcpipForward
	if err := ssh.Unmarshal(payload, &p); err != nil {
		return "", 0, fmt.Errorf("bad tcpip-forward request: %w", err)
	}
	if len(p.Addr) > maxBindAddress {
		return "", 0, fmt.Errorf("listen address longer than %d bytes", maxBindAddress)
	}
	if strings.IndexFunc(p.Addr, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
		return "", 0, errors.New("listen address with a control character")
	}
	if p.Port > 65535 {
		return "", 0, fmt.Errorf("bad listen port %d", p.Port)
	}
	return p.Addr, int(p.Port), nil
}

// remoteForwards serves the global requests of one client connection whose target is fixed.
type remoteForwards struct {
	s        *Server
	ctx      context.Context
	endAll   context.CancelCauseFunc // ends ctx, so every relay, with a cause (forwardEnded)
	outer    *ssh.ServerConn         // the authenticated connection: the account, the audit's source
	client   ssh.Conn                // where forwarded-tcpip channels go back to
	conn     io.Closer               // the client's own connection (outer's): cut when client's close cannot go out
	user     string
	target   JumpTarget
	answered []string // the factors the connection answered for its target

	mu     sync.Mutex
	egress ssh.Conn
	// egressKey is loginKey of the decision the egress login was made with: a later request
	// granted through other keys must not ride it (the target's per-key limits would apply to
	// the wrong key).
	egressKey string
	// login is egress, readable without r.mu (close: a request to the target holds r.mu).
	login  atomic.Pointer[ssh.Conn]
	binds  map[int]string // listen port → the address the client asked for
	closed bool
	active map[io.Closer]struct{} // client channels being relayed, closed at the end
	conns  sync.WaitGroup
	open   atomic.Int64
	// unregister takes the forwards out of the Running registry (a freeze or a deletion of the
	// account ends them as it ends sessions).
	unregister func()
}

// newRemoteForwards serves the -R requests of client under ctx; endAll ends ctx, so every
// relay, with the reason of a control (a freeze, a deletion) before the client's connection
// goes, so that their forward.close events say why (nil: one of their own).
func (s *Server) newRemoteForwards(ctx context.Context, endAll context.CancelCauseFunc, outer *ssh.ServerConn, client ssh.Conn, user string, t JumpTarget, answered []string) *remoteForwards {
	if endAll == nil {
		ctx, endAll = context.WithCancelCause(ctx)
	}
	return &remoteForwards{s: s, ctx: ctx, endAll: endAll, outer: outer, client: client, conn: outer, user: user, target: t, answered: answered,
		binds: map[int]string{}, active: map[io.Closer]struct{}{}}
}

// serve answers reqs, in order, until the connection ends.
func (r *remoteForwards) serve(reqs <-chan *ssh.Request) {
	refused, closing := 0, false
	for req := range reqs {
		ok := false
		switch req.Type {
		case "tcpip-forward", "cancel-tcpip-forward":
			// Bounded per connection: each refusal is audited (refusedforwards.go).
			decide, closeNow := refusedForwardVerdict(refused, closing)
			if closeNow {
				closing = true
				r.deny("forward.denied", r.fields(0, ""), tooManyRefusedForwards)
				_ = r.client.Close() // reqs closes: the loop ends
			}
			if decide && req.Type == "tcpip-forward" {
				ok = r.listen(req.Payload)
			} else if decide {
				ok = r.cancel(req.Payload)
			}
			if !ok {
				refused++
			}
		}
		if req.WantReply {
			_ = req.Reply(ok, nil)
		}
	}
}

func (r *remoteForwards) fields(port int, addr string) audit.Fields {
	return audit.Fields{User: r.user, HostTo: r.target.Host, PortTo: port,
		Extra: map[string]string{"direction": "remote", "listen_address": addr, "ssh_port": strconv.Itoa(r.target.Port)}}
}

// deny audits a refused request; the client hears "remote port forwarding failed".
func (r *remoteForwards) deny(typ string, f audit.Fields, why string) bool {
	f.Allowed, f.Comment = audit.Bool(false), why
	r.s.log.Info("remote forward refused", "account", accountOf(r.outer), "target", r.target.Host, "port", f.PortTo, "reason", why)
	_ = r.s.audit(r.ctx, r.outer, typ, f) // refused either way
	return false
}

// listen decides a tcpip-forward request and, when granted, has the target listen.
func (r *remoteForwards) listen(payload []byte) bool {
	addr, port, err := ParseTCPIPForward(payload)
	if err != nil {
		return r.deny("forward.denied", r.fields(0, ""), err.Error())
	}
	f := r.fields(port, addr)
	tgt, err := resolveTarget(r.ctx, r.user, r.target)
	if err != nil {
		return r.deny("forward.denied", f, err.Error())
	}
	f.IPTo = tgt.IP.String()
	d, facts, err := r.s.forwardDecision(r.ctx, r.outer, access.ForwardRequest{Direction: access.ForwardRemote, Target: tgt, BindPort: port}, false, nil)
	if err != nil {
		return r.deny("forward.denied", f, err.Error())
	}
	a, in := facts.Account, facts.Inputs
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.closed:
		return false
	case len(r.binds) >= maxRemoteListens:
		return r.deny("forward.denied", f, fmt.Sprintf("at most %d remote forwards per connection", maxRemoteListens))
	case hasKey(r.binds, port):
		return r.deny("forward.denied", f, fmt.Sprintf("port %d is already forwarded on this connection", port))
	case r.s.RemoteForward == nil:
		return r.deny("forward.denied", f, "remote forwarding is not available on this bastion")
	}
	dial := RemoteForwardDial{Session: forwardSession(r.s, r.outer, a, r.answered), Target: tgt, Decision: d, Keys: in.Keys, Channels: r.incoming}
	if r.egress != nil {
		if loginKey(d) != r.egressKey {
			return r.deny("forward.denied", f, "granted through other keys than this connection's first remote forward: ask for it on a new connection")
		}
		// The login was made for an earlier request: this one passes the MFA check on its own.
		if err := r.s.forwardMFA(r.ctx, dial); err != nil {
			return r.deny("forward.denied", f, err.Error())
		}
	}
	if r.egress == nil {
		conn, err := r.s.RemoteForward(r.ctx, dial)
		if err != nil {
			return r.deny("forward.failed", f, "cannot log in to the target: "+err.Error())
		}
		r.setLogin(conn, loginKey(d))
		if r.s.Running != nil {
			r.unregister = r.s.Running.Add(a.ID, "remote-forward-"+strconv.FormatUint(nextForwardID.Add(1), 10), r.registryEnd(a.Name, conn))
		}
	}
	ok, _, err := r.egress.SendRequest("tcpip-forward", true, ssh.Marshal(tcpipForward{Addr: addr, Port: uint32(port)}))
	if err != nil || !ok {
		return r.deny("forward.failed", f, fmt.Sprintf("the target refused to listen on %s port %d", addr, port))
	}
	r.binds[port] = addr
	f.Allowed = audit.Bool(true)
	if err := r.s.audit(r.ctx, r.outer, "forward.listen", f); err != nil {
		// Fail closed: a listener the audit log cannot record is closed again.
		_, _, _ = r.egress.SendRequest("cancel-tcpip-forward", true, ssh.Marshal(tcpipForward{Addr: addr, Port: uint32(port)}))
		delete(r.binds, port)
		return false
	}
	return true
}

// registryEnd is the Running registry's end of these forwards (a freeze, a deletion of
// account): each relay ends with the reason, then the target's login (its listeners) and the
// client's connection close, each on its own and off the registry's End (an admin's freeze):
// either close may be a write to a peer that does not read. The target's must not wait on the
// client's; a client's close that cannot go out cuts its connection (jumpend.go).
func (r *remoteForwards) registryEnd(account string, login io.Closer) func(reason string, exit int, accountWide bool) {
	return func(reason string, _ int, _ bool) {
		r.s.log.Info("remote forwards ended", "account", account, "reason", reason)
		r.endAll(&forwardEnded{reason: reason})
		go func() { _ = login.Close() }() // ending it is the point
		r.s.closeOrCut(r.client, r.conn, account, "the connection of remote forwards")
	}
}

func hasKey(m map[int]string, k int) bool { _, ok := m[k]; return ok }

// nextForwardID names the forwards of each connection in the Running registry.
var nextForwardID atomic.Uint64

// stillGranted decides again, for one connection made on the target's side (and then while it
// is open), whether the account may forward port: a grant revoked, an account frozen or
// expired, a key removed, an MFA requirement the connection did not answer, since the listener
// opened, stop the connections that come after and those open. It returns the account as the
// store holds it now.
func (r *remoteForwards) stillGranted(ctx context.Context, port int) (store.Account, error) {
	tgt, err := resolveTarget(ctx, r.user, r.target)
	if err != nil {
		return store.Account{}, err
	}
	_, facts, err := r.s.forwardDecision(ctx, r.outer, access.ForwardRequest{Direction: access.ForwardRemote, Target: tgt, BindPort: port}, true, r.answered)
	return facts.Account, err
}

// cancel stops a listener this connection opened (cancel-tcpip-forward).
func (r *remoteForwards) cancel(payload []byte) bool {
	addr, port, err := ParseTCPIPForward(payload)
	if err != nil {
		return r.deny("forward.denied", r.fields(0, ""), err.Error())
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !hasKey(r.binds, port) || r.egress == nil {
		return r.deny("forward.denied", r.fields(port, addr), fmt.Sprintf("port %d is not forwarded on this connection", port))
	}
	ok, _, err := r.egress.SendRequest("cancel-tcpip-forward", true, ssh.Marshal(tcpipForward{Addr: r.binds[port], Port: uint32(port)}))
	delete(r.binds, port) // whatever the target says, nothing more is relayed for it
	f := r.fields(port, addr)
	f.Allowed = audit.Bool(err == nil && ok)
	_ = r.s.audit(r.ctx, r.outer, "forward.cancel", f) // after the fact: the log counts a failure
	return err == nil && ok
}

// incoming takes a channel the target opens; it never blocks (the egress connection's loop
// calls it): the relay runs in its own goroutine.
func (r *remoteForwards) incoming(nch ssh.NewChannel) {
	if nch.ChannelType() != "forwarded-tcpip" {
		_ = nch.Reject(ssh.Prohibited, "the bastion accepts no such channel from a target")
		return
	}
	if r.open.Add(1) > maxRemoteConns {
		r.open.Add(-1)
		_ = nch.Reject(ssh.ResourceShortage, "too many forwarded connections")
		return
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		r.open.Add(-1)
		_ = nch.Reject(ssh.ConnectionFailed, "the client is gone")
		return
	}
	r.conns.Add(1)
	r.mu.Unlock()
	go func() {
		defer r.conns.Done()
		defer r.open.Add(-1)
		// One forwarded connection's failure ends it alone, never the process.
		defer crash.Recover(func(p *crash.Panic) { r.s.panicked(accountOf(r.outer), r.outer.RemoteAddr(), p) })
		r.relay(nch)
	}()
}

// relay carries one forwarded connection between the target and the client.
func (r *remoteForwards) relay(nch ssh.NewChannel) {
	var p forwardedTCPIP
	if err := ssh.Unmarshal(nch.ExtraData(), &p); err != nil {
		_ = nch.Reject(ssh.ConnectionFailed, "bad forwarded-tcpip channel")
		return
	}
	r.mu.Lock()
	addr, ok := r.binds[int(p.Port)]
	r.mu.Unlock()
	f := r.fields(int(p.Port), addr)
	f.Extra["origin"] = joinHostPortU(p.OrigAddr, p.OrigPort)
	if !ok {
		// The target opened a channel for a port this connection did not forward: refused.
		_ = nch.Reject(ssh.Prohibited, "no such forward")
		r.deny("forward.denied", f, fmt.Sprintf("the target opened a connection for port %d, which is not forwarded", p.Port))
		return
	}
	a, err := r.stillGranted(r.ctx, int(p.Port))
	if err != nil {
		// Revoked since: this connection is refused, and the target stops listening.
		_ = nch.Reject(ssh.Prohibited, "remote forwarding is no longer granted")
		r.deny("forward.denied", f, err.Error())
		r.mu.Lock()
		if hasKey(r.binds, int(p.Port)) && r.egress != nil {
			_, _, _ = r.egress.SendRequest("cancel-tcpip-forward", true, ssh.Marshal(tcpipForward{Addr: addr, Port: p.Port}))
			delete(r.binds, int(p.Port))
		}
		r.mu.Unlock()
		return
	}
	// Towards the client, the address it asked for (it matches the channel to its -R by it).
	cch, creqs, err := r.client.OpenChannel("forwarded-tcpip", ssh.Marshal(forwardedTCPIP{Addr: addr, Port: p.Port, OrigAddr: p.OrigAddr, OrigPort: p.OrigPort}))
	if err != nil {
		_ = nch.Reject(ssh.ConnectionFailed, "the client refused the connection")
		r.deny("forward.failed", f, "the client refused the connection: "+err.Error())
		return
	}
	go ssh.DiscardRequests(creqs)
	tch, treqs, err := nch.Accept()
	if err != nil {
		_ = cch.Close() // the target went away: nothing to relay
		return
	}
	go ssh.DiscardRequests(treqs)
	r.mu.Lock()
	r.active[cch] = struct{}{}
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.active, cch)
		r.mu.Unlock()
		_ = cch.Close() // the relay is over: nothing left to report
		_ = tch.Close()
	}()
	f.Allowed = audit.Bool(true)
	start := time.Now()
	if err := r.s.audit(r.ctx, r.outer, "forward.open", f); err != nil {
		r.s.log.Error("cannot audit a forward's start, refusing it", "account", accountOf(r.outer), "err", err)
		return // fail closed: the deferred closes end it before a byte moves
	}
	rctx, stop := r.s.liveForward(r.ctx, r.outer, a.ExpiresAt, func(ctx context.Context) error {
		_, err := r.stillGranted(ctx, int(p.Port))
		return err
	})
	sent, received := pipe(rctx, cch, tch)
	f.BytesIn, f.BytesOut, f.Duration = sent, received, time.Since(start).Seconds()
	f.Comment = endedComment(rctx)
	stop()
	_ = r.s.audit(context.WithoutCancel(r.ctx), r.outer, "forward.close", f) // after the fact: the log counts and alerts a failure
}

// setLogin keeps conn, made for a decision whose loginKey is key, as the connection's login to
// the target; r.mu is held.
func (r *remoteForwards) setLogin(conn ssh.Conn, key string) {
	r.egress, r.egressKey = conn, key
	r.login.Store(&conn)
}

// close ends the forwards of a connection that is over: the target stops listening (its
// connection closes), relays end, and close waits for them. The login to the target is closed
// first, outside r.mu, and the forwards' context ended: a request to the target under way
// (listen's tcpip-forward, a cancel) holds r.mu until the target answers, which a target that
// stopped answering never does, and a login being made holds it until it is made.
func (r *remoteForwards) close() {
	r.endAll(nil)
	if eg := r.login.Load(); eg != nil {
		_ = (*eg).Close() // the connection is over: the target's listeners go with it
	}
	r.mu.Lock()
	r.closed = true
	if r.unregister != nil {
		r.unregister()
		r.unregister = nil
	}
	for c := range r.active {
		_ = c.Close() // ending the relay is the point
	}
	r.mu.Unlock()
	r.conns.Wait()
}

func joinHostPortU(host string, port uint32) string {
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return host + ":" + strconv.FormatUint(uint64(port), 10)
}

// halfCloser is a stream whose write side closes apart (an SSH channel, a TCP connection).
type halfCloser interface {
	io.ReadWriteCloser
	CloseWrite() error
}

// pipe relays client and other both ways until both directions end (each side's EOF is passed
// on as a half close), or ctx ends; it returns the bytes client sent and received.
func pipe(ctx context.Context, client ssh.Channel, other halfCloser) (sent, received int64) {
	// Ending it is the point; the target's side first: the client's Close is a message on its
	// connection, which a client that stopped reading holds for as long as it likes.
	stop := context.AfterFunc(ctx, func() { _ = other.Close(); _ = client.Close() })
	defer stop()
	var s, rcv atomic.Int64
	var wg sync.WaitGroup
	wg.Add(2)
	// A panic while copying ends this forwarded connection only (both ends closed), never the
	// process.
	closeBoth := func(*crash.Panic) { _ = client.Close(); _ = other.Close() }
	go func() {
		defer wg.Done()
		defer crash.Recover(closeBoth)
		n, _ := io.Copy(other, client)
		s.Add(n)
		_ = other.CloseWrite() // the peer may have gone: the copy's end says it all
	}()
	go func() {
		defer wg.Done()
		defer crash.Recover(closeBoth)
		n, _ := io.Copy(client, other)
		rcv.Add(n)
		_ = client.CloseWrite()
	}()
	wg.Wait()
	return s.Load(), rcv.Load()
}
