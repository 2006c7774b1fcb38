package ingress

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"gatehouse/internal/config"
	"gatehouse/internal/netaddr"
	"gatehouse/internal/session"
)

// proxyV1Line is a v1 header as HAProxy's send-proxy writes it.
func proxyV1Line(proto string, src, dst netip.AddrPort) []byte {
	return fmt.Appendf(nil, "PROXY %s %s %s %d %d\r\n", proto, src.Addr(), dst.Addr(), src.Port(), dst.Port())
}

// proxyV2Header is a v2 header: the signature, version 2 and cmd, fam<<4|trans, then body.
func proxyV2Header(cmd, famTrans byte, body []byte) []byte {
	b := append([]byte(nil), proxyV2Sig...)
	b = append(b, 0x20|cmd, famTrans)
	b = binary.BigEndian.AppendUint16(b, uint16(len(body)))
	return append(b, body...)
}

// proxyV2Addrs is a v2 PROXY body for src and dst (both IPv4 or both IPv6), as send-proxy-v2.
func proxyV2Addrs(src, dst netip.AddrPort) []byte {
	var b []byte
	b = append(b, src.Addr().AsSlice()...)
	b = append(b, dst.Addr().AsSlice()...)
	b = binary.BigEndian.AppendUint16(b, src.Port())
	return binary.BigEndian.AppendUint16(b, dst.Port())
}

// errAfter is a reader that gives data, then err (a deadline, a reset).
func errAfter(data []byte, err error) io.Reader {
	return io.MultiReader(bytes.NewReader(data), errReader{err})
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// decideBytes runs what the server does with a connection's first bytes: a trusted balancer's
// header read and judged, or an untrusted peer's first bytes checked for a signature. It returns
// the verdict, the client address taken (if any), and the reader, to see what was left unread.
func decideBytes(trusted bool, r io.Reader) (ProxyVerdict, netip.AddrPort) {
	if trusted {
		h, err := ReadProxyHeader(r)
		v := ProxyDecision(true, h, err)
		if v.Action == ProxyClient {
			return v, netip.AddrPortFrom(h.Source.Addr().Unmap(), h.Source.Port())
		}
		return v, netip.AddrPort{}
	}
	var buf [12]byte
	_, ver, _ := sniffProxy(r, &buf)
	return ProxyDecision(false, ProxyHeader{Version: ver}, nil), netip.AddrPort{}
}

// TestProxyDecision: the accept-or-close decision over (trusted source?) × (header v1, v2,
// none, garbage, LOCAL, malformed, cut short, late) × (address family), from the bytes a
// connection sends. A trusted balancer's valid TCP header gives the client; its own
// connections (LOCAL, UNKNOWN) the health-check answer; anything else from it is closed. From
// an untrusted peer a header of any kind is refused, and everything else goes to SSH as is.
func TestProxyDecision(t *testing.T) {
	c4, b4 := netip.MustParseAddrPort("192.0.2.7:40000"), netip.MustParseAddrPort("198.51.100.1:22")
	c6, b6 := netip.MustParseAddrPort("[2001:db8::7]:40001"), netip.MustParseAddrPort("[2001:db8::1]:22")
	mapped := netip.AddrPortFrom(netip.AddrFrom16(c4.Addr().As16()), 40002)
	ssh := []byte("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n")
	tlv := append(proxyV2Addrs(c4, b4), 0x04, 0x00, 0x02, 0x00, 0x00) // a NOOP TLV of 2 bytes
	long := append([]byte("PROXY TCP4 192.0.2.7 198.51.100.1 40000 22"), bytes.Repeat([]byte(" "), 80)...)
	const (
		direct  = "direct"
		refused = "refuse"
	)
	for _, tc := range []struct {
		name        string
		data        []byte
		err         error // after data (nil: EOF)
		trusted     string
		client      netip.AddrPort
		untrusted   string // direct or refuse (untrusted_header)
		noOverRead  bool   // a valid header: what follows it must be left unread
		wantVersion int
	}{
		{name: "no header, SSH", data: ssh, trusted: "missing", untrusted: direct},
		{name: "no header, garbage", data: []byte("GET / HTTP/1.1\r\n\r\n"), trusted: "missing", untrusted: direct},
		{name: "no header, lowercase proxy", data: []byte("proxy TCP4 192.0.2.7 198.51.100.1 40000 22\r\n"), trusted: "missing", untrusted: direct},
		{name: "nothing then the deadline", err: os.ErrDeadlineExceeded, trusted: "timeout", untrusted: direct},
		{name: "nothing then closed", trusted: "incomplete", untrusted: direct},
		{name: "v2 signature prefix then closed", data: proxyV2Sig[:5], trusted: "incomplete", untrusted: direct},

		{name: "v1 TCP4", data: proxyV1Line("TCP4", c4, b4), trusted: "accepted", client: c4, untrusted: refused, noOverRead: true},
		{name: "v1 TCP6", data: proxyV1Line("TCP6", c6, b6), trusted: "accepted", client: c6, untrusted: refused, noOverRead: true},
		{name: "v1 TCP6 v4-mapped", data: proxyV1Line("TCP6", mapped, b6), trusted: "accepted", client: netip.AddrPortFrom(c4.Addr(), 40002), untrusted: refused, noOverRead: true},
		{name: "v1 UNKNOWN (health check)", data: []byte("PROXY UNKNOWN\r\n"), trusted: "health_check", untrusted: refused, noOverRead: true},
		{name: "v1 UNKNOWN with addresses", data: []byte("PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n"), trusted: "health_check", untrusted: refused},
		{name: "v1 TCP4 with an IPv6 address", data: proxyV1Line("TCP4", c6, b6), trusted: "malformed", untrusted: refused},
		{name: "v1 TCP6 with an IPv4 address", data: proxyV1Line("TCP6", c4, b4), trusted: "malformed", untrusted: refused},
		{name: "v1 TCP5", data: proxyV1Line("TCP5", c4, b4), trusted: "malformed", untrusted: refused},
		{name: "v1 two spaces", data: []byte("PROXY TCP4  192.0.2.7 198.51.100.1 40000 22\r\n"), trusted: "malformed", untrusted: refused},
		{name: "v1 port 65536", data: []byte("PROXY TCP4 192.0.2.7 198.51.100.1 65536 22\r\n"), trusted: "malformed", untrusted: refused},
		{name: "v1 port +1", data: []byte("PROXY TCP4 192.0.2.7 198.51.100.1 +1 22\r\n"), trusted: "malformed", untrusted: refused},
		{name: "v1 octal-looking address", data: []byte("PROXY TCP4 192.0.02.7 198.51.100.1 1 22\r\n"), trusted: "malformed", untrusted: refused},
		{name: "v1 zone", data: []byte("PROXY TCP6 fe80::1%eth0 fe80::2 1 22\r\n"), trusted: "malformed", untrusted: refused},
		{name: "v1 LF without CR", data: []byte("PROXY TCP4 192.0.2.7 198.51.100.1 40000 22\n"), trusted: "malformed", untrusted: refused},
		{name: "v1 missing a field", data: []byte("PROXY TCP4 192.0.2.7 198.51.100.1 40000\r\n"), trusted: "malformed", untrusted: refused},
		{name: "v1 longer than 107 bytes", data: append(long, "\r\n"...), trusted: "malformed", untrusted: refused},
		{name: "v1 cut short", data: []byte("PROXY TCP4 192.0.2.7"), trusted: "incomplete", untrusted: refused},
		{name: "v1 then the deadline", data: []byte("PROXY TCP4 192.0"), err: os.ErrDeadlineExceeded, trusted: "timeout", untrusted: refused},
		{name: "v1 unspecified client", data: []byte("PROXY TCP4 0.0.0.0 198.51.100.1 40000 22\r\n"), trusted: "no_client_address", untrusted: refused},

		{name: "v2 PROXY INET", data: proxyV2Header(1, 0x11, proxyV2Addrs(c4, b4)), trusted: "accepted", client: c4, untrusted: refused, noOverRead: true},
		{name: "v2 PROXY INET6", data: proxyV2Header(1, 0x21, proxyV2Addrs(c6, b6)), trusted: "accepted", client: c6, untrusted: refused, noOverRead: true},
		{name: "v2 PROXY INET with a TLV", data: proxyV2Header(1, 0x11, tlv), trusted: "accepted", client: c4, untrusted: refused, noOverRead: true},
		{name: "v2 PROXY INET, TLV cut", data: proxyV2Header(1, 0x11, tlv[:len(tlv)-1]), trusted: "malformed", untrusted: refused},
		{name: "v2 PROXY INET DGRAM", data: proxyV2Header(1, 0x12, proxyV2Addrs(c4, b4)), trusted: "not_tcp", untrusted: refused},
		{name: "v2 PROXY INET transport unspec", data: proxyV2Header(1, 0x10, proxyV2Addrs(c4, b4)), trusted: "not_tcp", untrusted: refused},
		{name: "v2 PROXY UNIX", data: proxyV2Header(1, 0x31, make([]byte, 216)), trusted: "no_client_address", untrusted: refused},
		{name: "v2 PROXY UNSPEC", data: proxyV2Header(1, 0x00, nil), trusted: "no_client_address", untrusted: refused},
		{name: "v2 PROXY INET unspecified client", data: proxyV2Header(1, 0x11, proxyV2Addrs(netip.MustParseAddrPort("0.0.0.0:1"), b4)), trusted: "no_client_address", untrusted: refused},
		{name: "v2 LOCAL (health check)", data: proxyV2Header(0, 0x00, nil), trusted: "health_check", untrusted: refused, noOverRead: true},
		{name: "v2 LOCAL with addresses", data: proxyV2Header(0, 0x11, proxyV2Addrs(c4, b4)), trusted: "health_check", untrusted: refused, noOverRead: true},
		{name: "v2 LOCAL UNIX", data: proxyV2Header(0, 0x31, make([]byte, 216)), trusted: "health_check", untrusted: refused, noOverRead: true},
		{name: "v2 version 1", data: append(append([]byte(nil), proxyV2Sig...), 0x11, 0x11, 0, 12), trusted: "malformed", untrusted: refused},
		{name: "v2 command 2", data: proxyV2Header(2, 0x11, proxyV2Addrs(c4, b4)), trusted: "malformed", untrusted: refused},
		{name: "v2 family 4", data: proxyV2Header(1, 0x41, proxyV2Addrs(c4, b4)), trusted: "malformed", untrusted: refused},
		{name: "v2 INET too short", data: proxyV2Header(1, 0x11, proxyV2Addrs(c4, b4)[:11]), trusted: "malformed", untrusted: refused},
		{name: "v2 INET6 with INET addresses", data: proxyV2Header(1, 0x21, proxyV2Addrs(c4, b4)), trusted: "malformed", untrusted: refused},
		{name: "v2 length over the bound", data: proxyV2Header(1, 0x11, make([]byte, proxyV2MaxBody+1)), trusted: "malformed", untrusted: refused},
		{name: "v2 body cut short", data: proxyV2Header(1, 0x11, proxyV2Addrs(c4, b4))[:20], trusted: "incomplete", untrusted: refused},
		{name: "v2 signature then the deadline", data: proxyV2Sig, err: os.ErrDeadlineExceeded, trusted: "timeout", untrusted: refused},
		{name: "v2 signature, then SSH", data: append(append([]byte(nil), proxyV2Sig...), ssh...), trusted: "malformed", untrusted: refused},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := tc.data
			if tc.noOverRead {
				data = append(append([]byte(nil), data...), ssh...)
			}
			mk := func() io.Reader {
				if tc.err != nil {
					return errAfter(data, tc.err)
				}
				return bytes.NewReader(data)
			}
			// Trusted.
			r := mk()
			v, client := decideBytes(true, r)
			wantAction := ProxyRefuse
			switch tc.trusted {
			case "accepted":
				wantAction = ProxyClient
			case "health_check":
				wantAction = ProxyHealthCheck
			}
			if v.Reason != tc.trusted || v.Action != wantAction {
				t.Errorf("trusted: %+v, want %s (action %d)", v, tc.trusted, wantAction)
			}
			if client != tc.client {
				t.Errorf("trusted: client %v, want %v", client, tc.client)
			}
			if tc.noOverRead {
				if rest, _ := io.ReadAll(r); !bytes.Equal(rest, ssh) {
					t.Errorf("trusted: after the header %q is left, want exactly the SSH line", rest)
				}
			}
			// Untrusted.
			v, client = decideBytes(false, mk())
			switch {
			case tc.untrusted == direct && (v.Action != ProxyDirect || v.Reason != ""),
				tc.untrusted == refused && (v.Action != ProxyRefuse || v.Reason != "untrusted_header"):
				t.Errorf("untrusted: %+v, want %s", v, tc.untrusted)
			}
			if client.IsValid() {
				t.Errorf("untrusted: a client address was taken from the header: %v", client)
			}
		})
	}
}

// TestProxyDecisionErrors: the decision on a trusted source's errors alone, and that a header
// never overrides an error (fail closed), for every header kind.
func TestProxyDecisionErrors(t *testing.T) {
	good := ProxyHeader{Version: 2, Family: ProxyFamilyTCP4, Stream: true, Source: netip.MustParseAddrPort("192.0.2.7:1")}
	local := ProxyHeader{Version: 2, Local: true}
	for _, h := range []ProxyHeader{good, local, {}, {Version: 1}} {
		for _, tc := range []struct {
			err    error
			reason string
		}{
			{ErrNoProxyHeader, "missing"},
			{fmt.Errorf("%w: x", ErrProxyMalformed), "malformed"},
			{fmt.Errorf("read: %w", os.ErrDeadlineExceeded), "timeout"},
			{io.ErrUnexpectedEOF, "incomplete"},
			{errors.New("connection reset by peer"), "incomplete"},
		} {
			if v := ProxyDecision(true, h, tc.err); v.Action != ProxyRefuse || v.Reason != tc.reason {
				t.Errorf("trusted, %+v, %v: %+v, want refuse %s", h, tc.err, v, tc.reason)
			}
		}
	}
	if v := ProxyDecision(true, good, nil); v.Action != ProxyClient {
		t.Errorf("good header: %+v", v)
	}
	if v := ProxyDecision(false, good, nil); v.Action != ProxyRefuse {
		t.Errorf("good header from an untrusted peer: %+v", v)
	}
}

// TestProxyTrusted: proxyProtocolFrom's addresses and prefixes, IPv4 and IPv6; an entry that
// does not parse trusts nothing.
func TestProxyTrusted(t *testing.T) {
	list := []string{"127.0.0.2", "10.0.1.0/28", "2001:db8::5", "2001:db8:1::/64", "not an address"}
	for _, tc := range []struct {
		ip   string
		want bool
	}{
		{"127.0.0.2", true}, {"127.0.0.1", false}, {"127.0.0.3", false},
		{"10.0.1.0", true}, {"10.0.1.15", true}, {"10.0.1.16", false},
		{"2001:db8::5", true}, {"2001:db8::6", false}, {"2001:db8:1::1234", true}, {"2001:db8:2::1", false},
	} {
		if got := ProxyTrusted(list, netip.MustParseAddr(tc.ip)); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.ip, got, tc.want)
		}
	}
	if ProxyTrusted(nil, netip.MustParseAddr("127.0.0.2")) {
		t.Error("an empty list trusts")
	}
}

// fakeConn is a net.Conn reading from r, for the wrapper's tests.
type fakeConn struct {
	net.Conn
	r io.Reader
}

func (f fakeConn) Read(p []byte) (int, error) { return f.r.Read(p) }
func (f fakeConn) RemoteAddr() net.Addr       { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 9), Port: 5555} }

// oneByte reads one byte at a time, as x/crypto/ssh reads the version line.
type oneByte struct{ r io.Reader }

func (o oneByte) Read(p []byte) (int, error) {
	if len(p) > 1 {
		p = p[:1]
	}
	return o.r.Read(p)
}

// sniffAll reads everything an untrusted peer's wrapped connection gives.
func sniffAll(data []byte, chunked bool) ([]byte, bool, error) {
	var r io.Reader = bytes.NewReader(data)
	if chunked {
		r = oneByte{r}
	}
	spoofed := false
	c := &proxyConn{Conn: fakeConn{r: r}, sniff: true, spoofed: func(int) { spoofed = true }}
	var out []byte
	var err error
	if chunked {
		out, err = io.ReadAll(oneByte{c})
	} else {
		out, err = io.ReadAll(c)
	}
	return out, spoofed, err
}

// TestProxyConnUntrusted: from an untrusted peer, the wrapper passes every byte through
// unchanged (read whole or a byte at a time) unless the connection begins with a PROXY header,
// which ends it with an error, counted once.
func TestProxyConnUntrusted(t *testing.T) {
	hdr := proxyV1Line("TCP4", netip.MustParseAddrPort("10.9.9.9:1"), netip.MustParseAddrPort("10.0.0.1:22"))
	for _, tc := range []struct {
		data  []byte
		spoof bool
	}{
		{[]byte("SSH-2.0-OpenSSH_9.2\r\nrest"), false},
		{[]byte("S"), false},
		{[]byte("PROX"), false}, // a prefix then EOF: SSH's to refuse
		{[]byte("\r\n\r\n"), false},
		{nil, false},
		{hdr, true},
		{append(append([]byte(nil), hdr...), "SSH-2.0-x\r\n"...), true},
		{proxyV2Header(1, 0x11, make([]byte, 12)), true},
		{proxyV2Header(0, 0, nil), true},
		{[]byte("PROXY garbage"), true},
	} {
		for _, chunked := range []bool{false, true} {
			out, spoofed, err := sniffAll(tc.data, chunked)
			if spoofed != tc.spoof {
				t.Errorf("%q chunked=%v: spoofed %v, want %v", tc.data, chunked, spoofed, tc.spoof)
			}
			if tc.spoof {
				if !errors.Is(err, errUntrustedProxyHeader) || len(out) != 0 {
					t.Errorf("%q chunked=%v: read %q, %v; want nothing and the refusal", tc.data, chunked, out, err)
				}
				continue
			}
			if err != nil || !bytes.Equal(out, tc.data) {
				t.Errorf("%q chunked=%v: read %q, %v; want the bytes unchanged", tc.data, chunked, out, err)
			}
		}
	}
}

// FuzzProxyHeader drives the listener wrapper's two paths with any bytes: a trusted
// balancer's (header read, decided) and an untrusted peer's (sniffed). It checks that nothing
// panics, the parser never reads past its bounds, a client address is taken only from a valid
// TCP header of a trusted peer and survives a re-encoding, and an untrusted peer's bytes pass
// unchanged unless they begin a header.
func FuzzProxyHeader(f *testing.F) {
	c4, b4 := netip.MustParseAddrPort("192.0.2.7:40000"), netip.MustParseAddrPort("198.51.100.1:22")
	c6, b6 := netip.MustParseAddrPort("[2001:db8::7]:40001"), netip.MustParseAddrPort("[2001:db8::1]:22")
	for _, seed := range [][]byte{
		[]byte("SSH-2.0-OpenSSH_9.2\r\n"), proxyV1Line("TCP4", c4, b4), proxyV1Line("TCP6", c6, b6), []byte("PROXY UNKNOWN\r\n"),
		proxyV2Header(1, 0x11, proxyV2Addrs(c4, b4)), proxyV2Header(1, 0x21, proxyV2Addrs(c6, b6)), proxyV2Header(0, 0, nil),
		proxyV2Header(1, 0x31, make([]byte, 216)), proxyV2Header(1, 0x11, append(proxyV2Addrs(c4, b4), 1, 0, 3, 'a', 'b', 'c')),
		[]byte("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"), proxyV2Sig, []byte("PROXY "), {},
	} {
		f.Add(seed, true)
		f.Add(seed, false)
	}
	f.Fuzz(func(t *testing.T, data []byte, trusted bool) {
		if trusted {
			r := bytes.NewReader(data)
			h, err := ReadProxyHeader(r)
			used := len(data) - r.Len()
			if used > 16+proxyV2MaxBody || (h.Version == 1 && used > proxyV1Max) {
				t.Fatalf("read %d bytes for a v%d header", used, h.Version)
			}
			v := ProxyDecision(true, h, err)
			if v.Action == ProxyDirect {
				t.Fatalf("a trusted peer's connection taken as direct: %+v", v)
			}
			if v.Action != ProxyClient {
				return
			}
			src := h.Source.Addr().Unmap()
			if err != nil || !src.IsValid() || src.IsUnspecified() || !h.Stream {
				t.Fatalf("client %v taken from %+v, %v", h.Source, h, err)
			}
			// The address survives a re-encoding in the same version.
			var again []byte
			if h.Version == 1 {
				proto := "TCP4"
				if h.Family == ProxyFamilyTCP6 {
					proto = "TCP6"
				}
				again = proxyV1Line(proto, h.Source, h.Dest)
			} else {
				fam := byte(0x11)
				if h.Family == ProxyFamilyTCP6 {
					fam = 0x21
				}
				again = proxyV2Header(1, fam, proxyV2Addrs(h.Source, h.Dest))
			}
			h2, err := ReadProxyHeader(bytes.NewReader(again))
			if err != nil || h2.Source != h.Source || h2.Dest != h.Dest || h2.Family != h.Family {
				t.Fatalf("re-encoded %+v: %+v, %v", h, h2, err)
			}
			return
		}
		out, spoofed, err := sniffAll(data, len(data)%2 == 1)
		sig, _ := proxySig(data[:min(len(data), 12)])
		if spoofed != (sig != 0) {
			t.Fatalf("spoofed %v for data beginning %q", spoofed, data[:min(len(data), 12)])
		}
		if !spoofed && (err != nil || !bytes.Equal(out, data)) {
			t.Fatalf("untrusted bytes changed: %q, %v", out, err)
		}
		if spoofed && len(out) != 0 {
			t.Fatalf("bytes of a forged header passed on: %q", out)
		}
	})
}

// TestProxiedAddrEverywhere: the address a header gives is the one every reader of addresses
// sees: the per-source key, the from= check's IP, the audit's ip_from/port_from; the balancer's
// is kept apart for the audit.
func TestProxiedAddrEverywhere(t *testing.T) {
	for _, client := range []string{"192.0.2.7:40000", "[2001:db8::7]:40001"} {
		ap := netip.MustParseAddrPort(client)
		addr := &netaddr.Proxied{Client: net.TCPAddrFromAddrPort(ap), Balancer: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 33333}}
		key, ok := SourceKey(addr)
		wantKey := ap.Addr()
		if wantKey.Is6() {
			pf, _ := wantKey.Prefix(64)
			wantKey = pf.Addr()
		}
		if !ok || key != wantKey {
			t.Errorf("%s: source key %v, want %v", client, key, wantKey)
		}
		if ip := remoteIP(addr); !ip.Equal(net.IP(ap.Addr().AsSlice())) {
			t.Errorf("%s: remoteIP %v", client, ip)
		}
		if addr.String() != client || netaddr.IP(addr) != ap.Addr().String() || netaddr.Port(addr) != int(ap.Port()) {
			t.Errorf("%s: String %q, IP %q, Port %d", client, addr.String(), netaddr.IP(addr), netaddr.Port(addr))
		}
		if v := netaddr.ViaFields(addr); v["ip_balancer"] != "127.0.0.2" || v["port_balancer"] != "33333" || netaddr.Via(addr) != "127.0.0.2:33333" {
			t.Errorf("%s: balancer %v %q", client, v, netaddr.Via(addr))
		}
	}
}

// BenchmarkReadProxyHeader: the cost of a header on a connection's start (HAProxy's v1 line,
// read byte by byte so that nothing past it is consumed, and its v2 block).
func BenchmarkReadProxyHeader(b *testing.B) {
	c4, b4 := netip.MustParseAddrPort("192.0.2.7:40000"), netip.MustParseAddrPort("198.51.100.1:22")
	for _, tc := range []struct {
		name string
		data []byte
	}{{"v1", proxyV1Line("TCP4", c4, b4)}, {"v2", proxyV2Header(1, 0x11, proxyV2Addrs(c4, b4))}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			r := bytes.NewReader(tc.data)
			for b.Loop() {
				r.Reset(tc.data)
				h, err := ReadProxyHeader(r)
				if v := ProxyDecision(true, h, err); v.Action != ProxyClient {
					b.Fatal(v)
				}
			}
		})
	}
}

// proxyEnv is a configuration with the PROXY protocol on for 127.0.0.1 and maxStartups as given.
type proxyEnv struct{ maxStartups string }

func (e proxyEnv) Deps() session.Deps {
	cfg := config.Default()
	cfg.ProxyProtocolFrom = []string{"127.0.0.1"}
	if e.maxStartups != "" {
		cfg.MaxStartups = e.maxStartups
	}
	return session.Deps{Config: func() *config.Config { return &cfg }}
}
func (proxyEnv) Parse(line string) session.Line { return session.Line{Raw: line} }
func (proxyEnv) Serve(context.Context, *session.Session, session.Line) (session.Outcome, int) {
	return session.Outcome{}, 0
}

// proxyServer serves env on a loopback listener until the test ends; stop stops it and
// returns how long Serve took to return.
func proxyServer(t *testing.T, env Env, headerTimeout time.Duration) (s *Server, addr string, stop func() time.Duration) {
	t.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	s = New(env, []ssh.Signer{signer}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	s.ProxyHeaderTimeout = headerTimeout // before Serve: read by the connections' goroutines
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Serve(ctx, ln); close(done) }()
	var once sync.Once
	var took time.Duration
	stop = func() time.Duration {
		once.Do(func() {
			start := time.Now()
			cancel()
			<-done
			took = time.Since(start)
		})
		return took
	}
	t.Cleanup(func() { stop() })
	return s, ln.Addr().String(), stop
}

// waitFor polls cond (a counter moving) until it holds or a few seconds pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5 s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestProxyHeaderWaitHoldsAStartup: a trusted balancer's connection that sends nothing holds a
// maxStartups slot while its header is awaited (a second one is dropped when the bound is 1),
// gives it back at the header deadline (counted "timeout"), and a server that stops ends the
// wait at once instead of at the deadline.
func TestProxyHeaderWaitHoldsAStartup(t *testing.T) {
	s, addr, _ := proxyServer(t, proxyEnv{maxStartups: "1:100:1"}, 300*time.Millisecond)
	silent, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	waitFor(t, "the silent connection counted", func() bool { return s.unauth.Load() == 1 })
	second, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	waitFor(t, "the second connection dropped by maxStartups", func() bool { return s.stats.DroppedStartups.Load() == 1 })
	silent.SetReadDeadline(time.Now().Add(5 * time.Second))
	if b, err := io.ReadAll(silent); err != nil || len(b) != 0 {
		t.Fatalf("the silent connection: %q, %v; want closed without a word", b, err)
	}
	waitFor(t, "the slot given back", func() bool { return s.unauth.Load() == 0 && s.stats.Proxy.Load("timeout") == 1 })

	s2, addr2, stop := proxyServer(t, proxyEnv{}, time.Minute)
	c, err := net.Dial("tcp", addr2)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitFor(t, "the connection counted", func() bool { return s2.unauth.Load() == 1 })
	if took := stop(); took > 5*time.Second {
		t.Fatalf("Serve took %v to stop with a header awaited (the deadline is a minute)", took)
	}
	if s2.unauth.Load() != 0 {
		t.Fatalf("a startup slot still held after the stop: %d", s2.unauth.Load())
	}
}
