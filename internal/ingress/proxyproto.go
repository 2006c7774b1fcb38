package ingress

// The PROXY protocol (v1 text, v2 binary: HAProxy's send-proxy and send-proxy-v2) on the SSH
// listener. Behind a TCP load balancer every connection comes from the balancer; with
// proxyProtocolFrom listing the balancers, a connection from one of them must begin with a
// header naming the client, and that client's address is the connection's address everywhere
// afterwards (per-source limits and penalties, from= on keys, audit, session rows, syslog).
//
// The decisions, as ProxyDecision (a pure function, tested as a table):
//   - from a trusted balancer: a valid header with a TCP client address (v1 TCP4/TCP6, v2 PROXY
//     INET/INET6 STREAM) is the client; the balancer's own connections (v2 LOCAL, v1 UNKNOWN:
//     what HAProxy sends for its health checks) get the SSH version line and are closed, no login
//     (there is no client address to check); anything else (no header, a malformed one, none
//     within the deadline, a unix-socket or UDP client, an unspecified address) is closed.
//   - from any other address: taken as it is; a connection that begins with a PROXY header is a
//     forgery (or a balancer missing from the list) and is closed.
// Every outcome is counted (Stats.Proxy, gatehouse_proxy_protocol_connections_total).
//
// The parser is strict and reads no byte past the header (v1 byte by byte, v2 by its length),
// so the SSH stream after it is untouched; v2 bodies above proxyV2MaxBody are refused.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"gatehouse/internal/crash"
	"gatehouse/internal/netaddr"
)

// serverVersion is the SSH identification gatehouse sends (also to a balancer's health check).
const serverVersion = "SSH-2.0-gatehouse"

var (
	proxyV1Sig = []byte("PROXY ")
	proxyV2Sig = []byte("\r\n\r\n\x00\r\nQUIT\n")
)

const (
	proxyV1Max = 107 // the longest v1 line, CRLF included (the specification's bound)
	// proxyV2MaxBody bounds a v2 header's addresses and TLVs: HAProxy sends 12 or 36 bytes of
	// addresses and a few TLVs at most; the format allows 64 KiB per pending connection.
	proxyV2MaxBody = 4096
	// DefaultProxyHeaderTimeout is how long a trusted balancer's connection may take to send its
	// header (it sends it at once); the connection holds a maxStartups slot meanwhile.
	DefaultProxyHeaderTimeout = 5 * time.Second
)

var (
	// ErrNoProxyHeader: the first bytes are not a PROXY protocol signature.
	ErrNoProxyHeader = errors.New("no PROXY protocol header")
	// ErrProxyMalformed: the bytes begin as a PROXY header but do not parse.
	ErrProxyMalformed = errors.New("malformed PROXY protocol header")
	// errUntrustedProxyHeader ends a connection from an address not in proxyProtocolFrom that
	// begins with a PROXY header.
	errUntrustedProxyHeader = errors.New("PROXY protocol header from an address not in proxyProtocolFrom")
)

// ProxyFamily is the client's address family a header gives.
type ProxyFamily int

const (
	ProxyFamilyUnspec ProxyFamily = iota // v1 UNKNOWN, v2 AF_UNSPEC
	ProxyFamilyTCP4
	ProxyFamilyTCP6
	ProxyFamilyUnix
)

// ProxyHeader is what a PROXY protocol header said.
type ProxyHeader struct {
	Version int  // 1 or 2; 0 when the bytes were not a header
	Local   bool // v2 LOCAL: the balancer's own connection (health checks)
	Family  ProxyFamily
	Stream  bool           // the client's transport is a stream (v1 TCP4/TCP6 always; v2 STREAM)
	Source  netip.AddrPort // the client (TCP4/TCP6 only)
	Dest    netip.AddrPort // the address the client reached on the balancer
}

// proxySig tells what b, the first bytes of a connection, begins: 1 or 2 (a v1 or v2 signature
// in full), 0 (neither can follow), or undecided (b is a prefix of a signature).
func proxySig(b []byte) (version int, undecided bool) {
	k := min(len(b), len(proxyV1Sig))
	v1 := bytes.Equal(b[:k], proxyV1Sig[:k])
	k = min(len(b), len(proxyV2Sig))
	v2 := bytes.Equal(b[:k], proxyV2Sig[:k])
	switch {
	case v1 && len(b) >= len(proxyV1Sig):
		return 1, false
	case v2 && len(b) >= len(proxyV2Sig):
		return 2, false
	case !v1 && !v2:
		return 0, false
	}
	return 0, true
}

// sniffProxy reads r until its first bytes tell whether they begin a PROXY header: at most 12
// bytes, fewer as soon as they differ from both signatures (an SSH client's "SSH-" at once).
// It returns how many bytes of buf it filled and the version they begin (0: not a header). An
// error is returned only when it came before the bytes decided.
func sniffProxy(r io.Reader, buf *[12]byte) (n, version int, err error) {
	for empty := 0; ; {
		v, undecided := proxySig(buf[:n])
		if !undecided {
			return n, v, nil
		}
		if n == len(buf) { // cannot happen: a full v2 signature decides
			return n, 0, nil
		}
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			if v, undecided := proxySig(buf[:n]); !undecided {
				return n, v, nil // the error comes again at the next read
			}
			return n, 0, err
		}
		if m == 0 {
			if empty++; empty > 100 {
				return n, 0, io.ErrNoProgress
			}
		}
	}
}

// ReadProxyHeader reads one PROXY protocol header (v1 or v2) from r and not a byte more. Errors:
// ErrNoProxyHeader when the first bytes are no header's, ErrProxyMalformed (wrapped, with what
// was wrong, never the bytes) when they begin one that does not parse, or r's own (a deadline,
// EOF). The header's Version is set whenever a signature was read.
func ReadProxyHeader(r io.Reader) (ProxyHeader, error) {
	var sig [12]byte
	n, v, err := sniffProxy(r, &sig)
	if err != nil {
		return ProxyHeader{}, err
	}
	switch v {
	case 1:
		h, err := readProxyV1(r, sig[:n])
		h.Version = 1
		return h, err
	case 2:
		h, err := readProxyV2(r)
		h.Version = 2
		return h, err
	}
	return ProxyHeader{}, ErrNoProxyHeader
}

func malformed(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrProxyMalformed, fmt.Sprintf(format, a...))
}

// readProxyV1 reads the rest of a v1 line, whose first bytes are have, byte by byte up to its
// LF, and parses it.
func readProxyV1(r io.Reader, have []byte) (ProxyHeader, error) {
	line := make([]byte, 0, proxyV1Max)
	line = append(line, have...)
	var one [1]byte
	for bytes.IndexByte(line, '\n') < 0 {
		if len(line) >= proxyV1Max {
			return ProxyHeader{}, malformed("v1 line longer than %d bytes", proxyV1Max)
		}
		if _, err := io.ReadFull(r, one[:]); err != nil {
			return ProxyHeader{}, err
		}
		line = append(line, one[0])
	}
	return parseProxyV1(line)
}

// parseProxyV1 parses one v1 line, CRLF included: "PROXY TCP4|TCP6 SRC DST SPORT DPORT\r\n" or
// "PROXY UNKNOWN[ anything]\r\n".
func parseProxyV1(line []byte) (ProxyHeader, error) {
	body, ok := bytes.CutSuffix(line, []byte("\r\n"))
	if !ok || bytes.ContainsAny(body, "\r\n") {
		return ProxyHeader{}, malformed("v1 line not ended by a single CRLF")
	}
	f := strings.Split(string(body), " ")
	if len(f) < 2 || f[0] != "PROXY" {
		return ProxyHeader{}, malformed("v1 line without its protocol")
	}
	var h ProxyHeader
	switch f[1] {
	case "UNKNOWN": // the receiver ignores the rest of the line (the specification)
		return ProxyHeader{Family: ProxyFamilyUnspec}, nil
	case "TCP4":
		h.Family = ProxyFamilyTCP4
	case "TCP6":
		h.Family = ProxyFamilyTCP6
	default:
		return ProxyHeader{}, malformed("v1 protocol is neither TCP4, TCP6 nor UNKNOWN")
	}
	if len(f) != 6 {
		return ProxyHeader{}, malformed("v1 %s line with %d fields, want 6", f[1], len(f))
	}
	var addrs [2]netip.Addr
	for i, s := range f[2:4] {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" || (h.Family == ProxyFamilyTCP4) != a.Is4() {
			return ProxyHeader{}, malformed("v1 %s address %d does not parse", f[1], i+1)
		}
		addrs[i] = a
	}
	var ports [2]uint16
	for i, s := range f[4:6] {
		p, err := parsePort(s)
		if err != nil {
			return ProxyHeader{}, malformed("v1 port %d: %v", i+1, err)
		}
		ports[i] = p
	}
	h.Stream = true
	h.Source, h.Dest = netip.AddrPortFrom(addrs[0], ports[0]), netip.AddrPortFrom(addrs[1], ports[1])
	return h, nil
}

// parsePort is a decimal port, digits only (no sign, no space), 0 to 65535.
func parsePort(s string) (uint16, error) {
	if s == "" || len(s) > 5 || strings.Trim(s, "0123456789") != "" {
		return 0, errors.New("not a decimal port")
	}
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, errors.New("out of range")
	}
	return uint16(n), nil
}

// readProxyV2 reads the rest of a v2 header, after its 12-byte signature: 4 bytes (version and
// command, family and transport, length), then the length's bytes.
func readProxyV2(r io.Reader) (ProxyHeader, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return ProxyHeader{}, err
	}
	if hdr[0]>>4 != 2 {
		return ProxyHeader{}, malformed("v2 version %d", hdr[0]>>4)
	}
	cmd := hdr[0] & 0xf
	if cmd > 1 {
		return ProxyHeader{}, malformed("v2 command %d", cmd)
	}
	fam, trans := hdr[1]>>4, hdr[1]&0xf
	if fam > 3 || trans > 2 {
		return ProxyHeader{}, malformed("v2 family %d, transport %d", fam, trans)
	}
	n := int(binary.BigEndian.Uint16(hdr[2:]))
	if n > proxyV2MaxBody {
		return ProxyHeader{}, malformed("v2 length %d over %d", n, proxyV2MaxBody)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return ProxyHeader{}, err
	}
	if cmd == 0 {
		// LOCAL: the balancer's own connection; the block, family included, is to be ignored.
		return ProxyHeader{Local: true}, nil
	}
	return parseProxyV2(fam, trans, body)
}

// parseProxyV2 parses a v2 PROXY command's body: the addresses of fam, then TLVs, each whole.
func parseProxyV2(fam, trans byte, body []byte) (ProxyHeader, error) {
	h := ProxyHeader{Stream: trans == 1}
	var alen int
	switch fam {
	case 0:
		h.Family = ProxyFamilyUnspec
	case 1:
		h.Family, alen = ProxyFamilyTCP4, 12
	case 2:
		h.Family, alen = ProxyFamilyTCP6, 36
	case 3:
		h.Family, alen = ProxyFamilyUnix, 216
	}
	if len(body) < alen {
		return ProxyHeader{}, malformed("v2 length %d too short for its addresses (%d)", len(body), alen)
	}
	switch h.Family {
	case ProxyFamilyTCP4:
		src, dst := netip.AddrFrom4([4]byte(body[0:4])), netip.AddrFrom4([4]byte(body[4:8]))
		h.Source = netip.AddrPortFrom(src, binary.BigEndian.Uint16(body[8:]))
		h.Dest = netip.AddrPortFrom(dst, binary.BigEndian.Uint16(body[10:]))
	case ProxyFamilyTCP6:
		src, dst := netip.AddrFrom16([16]byte(body[0:16])), netip.AddrFrom16([16]byte(body[16:32]))
		h.Source = netip.AddrPortFrom(src, binary.BigEndian.Uint16(body[32:]))
		h.Dest = netip.AddrPortFrom(dst, binary.BigEndian.Uint16(body[34:]))
	}
	for tlv := body[alen:]; len(tlv) > 0; {
		if len(tlv) < 3 {
			return ProxyHeader{}, malformed("v2 TLV cut short")
		}
		l := 3 + int(binary.BigEndian.Uint16(tlv[1:3]))
		if len(tlv) < l {
			return ProxyHeader{}, malformed("v2 TLV longer than the header")
		}
		tlv = tlv[l:]
	}
	return h, nil
}

// ProxyAction is what is done with a new connection.
type ProxyAction int

const (
	ProxyDirect      ProxyAction = iota // no PROXY protocol: the TCP peer is the client
	ProxyClient                         // the header's source address is the client
	ProxyHealthCheck                    // the balancer's own connection: the SSH version line, then closed
	ProxyRefuse                         // closed at once
)

// ProxyVerdict is ProxyDecision's answer; Reason is the metric's label and the log's word.
type ProxyVerdict struct {
	Action ProxyAction
	Reason string
}

// ProxyReasons are the outcomes counted, in Stats.Proxy's order.
var ProxyReasons = [...]string{"accepted", "health_check", "missing", "malformed", "timeout", "incomplete",
	"not_tcp", "no_client_address", "untrusted_header"}

// ProxyDecision decides on a new connection: trusted when its TCP peer is in proxyProtocolFrom;
// h and err are what ReadProxyHeader gave (for an untrusted peer, only whether a signature
// began: h.Version). Pure: tested as a table over every combination.
func ProxyDecision(trusted bool, h ProxyHeader, err error) ProxyVerdict {
	refuse := func(reason string) ProxyVerdict { return ProxyVerdict{ProxyRefuse, reason} }
	if !trusted {
		if h.Version != 0 {
			// Honoured, it would let anyone choose the address every check sees.
			return refuse("untrusted_header")
		}
		return ProxyVerdict{ProxyDirect, ""} // anything else is SSH's to judge, as without the protocol
	}
	switch {
	case errors.Is(err, ErrNoProxyHeader):
		return refuse("missing")
	case errors.Is(err, ErrProxyMalformed):
		return refuse("malformed")
	case errors.Is(err, os.ErrDeadlineExceeded):
		return refuse("timeout")
	case err != nil:
		return refuse("incomplete")
	case h.Version == 0:
		return refuse("missing")
	case h.Local, h.Version == 1 && h.Family == ProxyFamilyUnspec:
		return ProxyVerdict{ProxyHealthCheck, "health_check"}
	case h.Family != ProxyFamilyTCP4 && h.Family != ProxyFamilyTCP6:
		return refuse("no_client_address") // a unix-socket or unknown client: nothing to check
	case !h.Stream:
		return refuse("not_tcp")
	}
	if src := h.Source.Addr().Unmap(); !src.IsValid() || src.IsUnspecified() {
		return refuse("no_client_address")
	}
	return ProxyVerdict{ProxyClient, "accepted"}
}

// ProxyStats counts the outcomes of ProxyDecision by reason (ProxyReasons).
type ProxyStats struct {
	n [len(ProxyReasons)]atomic.Int64
}

func (p *ProxyStats) add(reason string) {
	for i, r := range ProxyReasons {
		if r == reason {
			p.n[i].Add(1)
			return
		}
	}
}

// Load is the count of reason.
func (p *ProxyStats) Load(reason string) int64 {
	for i, r := range ProxyReasons {
		if r == reason {
			return p.n[i].Load()
		}
	}
	return 0
}

// proxyConn is an accepted connection seen through the PROXY protocol: its address is the
// client's a trusted balancer named (remote), or, from an untrusted peer (sniff), its first
// read checks that it does not begin with a PROXY header.
type proxyConn struct {
	net.Conn
	remote  net.Addr // nil: the peer's own
	sniff   bool
	spoofed func(version int) // told once when sniff finds a header
	pending []byte            // bytes the check read, given to the next reads
	err     error
}

func (c *proxyConn) RemoteAddr() net.Addr {
	if c.remote != nil {
		return c.remote
	}
	return c.Conn.RemoteAddr()
}

// Read is the connection's; the first one from an untrusted peer checks for a forged header
// first. x/crypto/ssh reads from one goroutine only.
func (c *proxyConn) Read(p []byte) (int, error) {
	if c.sniff {
		c.sniff = false
		var buf [12]byte
		n, v, err := sniffProxy(c.Conn, &buf)
		if ProxyDecision(false, ProxyHeader{Version: v}, nil).Action == ProxyRefuse {
			c.err = errUntrustedProxyHeader
			if c.spoofed != nil {
				c.spoofed(v)
			}
		} else {
			c.pending = append([]byte(nil), buf[:n]...)
			if n == 0 && err != nil {
				return 0, err
			}
		}
	}
	if c.err != nil {
		return 0, c.err
	}
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// proxyTrust tells whether the protocol is on (proxyProtocolFrom is not empty) and whether addr,
// a connection's TCP peer, is one of the balancers listed. The list is read at each connection:
// a reload applies at once.
func (s *Server) proxyTrust(addr net.Addr) (on, trusted bool) {
	list := s.cfg().ProxyProtocolFrom
	if len(list) == 0 {
		return false, false
	}
	ip, ok := netip.AddrFromSlice(remoteIP(addr))
	if !ok {
		return true, false
	}
	return true, ProxyTrusted(list, ip.Unmap())
}

// ProxyTrusted reports whether ip is in list (addresses and prefixes, as proxyProtocolFrom).
// An entry that does not parse trusts nothing (the configuration refuses it at load).
func ProxyTrusted(list []string, ip netip.Addr) bool {
	for _, e := range list {
		if pf, err := netip.ParsePrefix(e); err == nil {
			if pf.Contains(ip) {
				return true
			}
		} else if a, err := netip.ParseAddr(e); err == nil && a.Unmap() == ip {
			return true
		}
	}
	return false
}

// proxyAccept routes a new connection through the PROXY protocol when proxyProtocolFrom is set:
// a trusted balancer's is handled here, in a goroutine of its own (handled true); an untrusted
// peer's is returned wrapped to refuse a forged header, for Serve to go on with.
func (s *Server) proxyAccept(ctx context.Context, nc net.Conn) (net.Conn, bool) {
	on, trusted := s.proxyTrust(nc.RemoteAddr())
	if !on {
		return nc, false
	}
	if !trusted {
		peer := nc.RemoteAddr()
		return &proxyConn{Conn: nc, sniff: true, spoofed: func(v int) {
			s.stats.Proxy.add("untrusted_header")
			s.log.Warn("PROXY protocol header from an address not in proxyProtocolFrom: connection refused",
				"remote", peer.String(), "version", v)
		}}, false
	}
	// The slot first: a balancer's connection that sends nothing holds one of maxStartups while
	// its header is awaited, and no more than the header timeout.
	if s.dropStartup() {
		s.stats.DroppedStartups.Add(1)
		_ = nc.Close() // refused before anything was read: nothing to report
		return nil, true
	}
	s.unauth.Add(1)
	s.conns.Add(1)
	go func() {
		defer s.conns.Done()
		s.serveProxied(ctx, nc)
	}()
	return nil, true
}

// serveProxied reads a trusted balancer's header, then serves the client it names under the
// client's own per-source limits.
func (s *Server) serveProxied(ctx context.Context, nc net.Conn) {
	handed := false
	defer func() {
		if !handed {
			s.unauth.Add(-1)
			_ = nc.Close() // refused: nothing to report
		}
	}()
	defer crash.Recover(func(p *crash.Panic) { s.panicked("", nc.RemoteAddr(), p) })
	wait := s.ProxyHeaderTimeout
	if wait <= 0 {
		wait = DefaultProxyHeaderTimeout
	}
	wait = min(wait, time.Duration(s.cfg().LoginGraceTime)*time.Second)
	_ = nc.SetReadDeadline(time.Now().Add(wait))
	// The server stopping ends the wait at once, not at the deadline.
	stop := context.AfterFunc(ctx, func() { _ = nc.SetReadDeadline(time.Now()) })
	h, err := ReadProxyHeader(nc)
	stop()
	v := ProxyDecision(true, h, err)
	s.stats.Proxy.add(v.Reason)
	switch v.Action {
	case ProxyHealthCheck:
		// What a TCP check expecting the SSH banner reads; no login without a client address.
		_ = nc.SetWriteDeadline(time.Now().Add(wait))
		_, _ = io.WriteString(nc, serverVersion+"\r\n") // the check reads it or not: nothing to report
		return
	case ProxyClient:
	default:
		s.log.Warn("PROXY protocol: connection from a trusted balancer refused",
			"balancer", nc.RemoteAddr().String(), "reason", v.Reason, "err", errString(err))
		return
	}
	_ = nc.SetReadDeadline(time.Time{}) // handleConn sets loginGraceTime
	src := h.Source.Addr().Unmap()
	remote := &netaddr.Proxied{Client: net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, h.Source.Port())), Balancer: nc.RemoteAddr()}
	pc := &proxyConn{Conn: nc, remote: remote}
	s.log.Debug("PROXY protocol: client address from the balancer", "remote", remote.String(), "balancer", remote.Balancer.String())
	verdict, endSource := s.admitSource(remote)
	switch verdict {
	case SourceRefuseStartups:
		s.stats.PerSourceRefused.Add(1)
		return
	case SourceRefusePenalty:
		s.stats.PenaltyRefused.Add(1)
		return
	}
	handed = true
	s.handleConn(ctx, pc, endSource) // releases the maxStartups slot and closes nc
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
