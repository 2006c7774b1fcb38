package e2e

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/testenv"
)

// proxyBalancer is a TCP balancer in front of one gatehouse: it dials gatehouse from its own
// address (from) and writes a PROXY header naming the client first, as HAProxy's send-proxy
// (v1) or send-proxy-v2 (v2) does; forge, when set, replaces the client address it names.
type proxyBalancer struct {
	ln   net.Listener
	host string
	port string
}

func startProxyBalancer(t *testing.T, target, from string, version int, forge string) *proxyBalancer {
	t.Helper()
	return startRelay(t, target, from, func(client, front netip.AddrPort) []byte {
		if forge != "" {
			client = netip.AddrPortFrom(netip.MustParseAddr(forge), client.Port())
		}
		return proxyHeader(version, client, front)
	})
}

// startRelay relays each connection to target from the address from, writing first(client,
// front) before the client's bytes.
func startRelay(t *testing.T, target, from string, first func(client, front netip.AddrPort) []byte) *proxyBalancer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	p := &proxyBalancer{ln: ln}
	p.host, p.port, _ = net.SplitHostPort(ln.Addr().String())
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
				up, err := d.Dial("tcp", target)
				if err != nil {
					return
				}
				defer up.Close()
				client, front := netip.MustParseAddrPort(c.RemoteAddr().String()), netip.MustParseAddrPort(c.LocalAddr().String())
				if _, err := up.Write(first(client, front)); err != nil {
					return
				}
				done := make(chan struct{}, 2)
				go func() { io.Copy(up, c); done <- struct{}{} }()
				go func() { io.Copy(c, up); done <- struct{}{} }()
				<-done // either side ends: both are closed by the defers
			}()
		}
	}()
	return p
}

// proxyHeader is a PROXY protocol header (v1 text or v2 binary) for client and front; an IPv6
// client gets an IPv6 (v4-mapped) front, as HAProxy writes a mixed pair.
func proxyHeader(version int, client, front netip.AddrPort) []byte {
	proto, fam, size := "TCP4", byte(0x11), byte(12)
	if client.Addr().Is6() {
		proto, fam, size = "TCP6", 0x21, 36
		front = netip.AddrPortFrom(netip.AddrFrom16(front.Addr().As16()), front.Port())
	}
	if version == 1 {
		return fmt.Appendf(nil, "PROXY %s %s %s %d %d\r\n", proto, client.Addr(), front.Addr(), client.Port(), front.Port())
	}
	b := []byte("\r\n\r\n\x00\r\nQUIT\n\x21")
	b = append(b, fam, 0, size)
	b = append(b, client.Addr().AsSlice()...)
	b = append(b, front.Addr().AsSlice()...)
	b = binary.BigEndian.AppendUint16(b, client.Port())
	return binary.BigEndian.AppendUint16(b, front.Port())
}

// via is b seen through the balancer p: the same keys, p's address.
func (p *proxyBalancer) via(b *testenv.Bastion) *testenv.Bastion {
	front := *b
	front.Host, front.Port = p.host, p.port
	return &front
}

// TestProxyProtocol: gatehouse behind a balancer that sends the PROXY protocol (v1 and v2)
// from 127.0.0.2, the one address in proxyProtocolFrom. Logged in from 127.0.0.5 through it,
// the audit (ip_from and ip_balancer), the Bastion-form syslog line and the session list show
// 127.0.0.5; a key's from= is checked against the client; a per-source penalty earned by
// 127.0.0.9 through the balancer refuses 127.0.0.9 and nobody else behind it. A header from
// any other address (a forger) is refused and counted, and so is a connection from the
// balancer's address without one; the balancer's health checks (LOCAL, UNKNOWN) read the SSH
// banner; a balancer connection that sends nothing is closed at the header deadline.
func TestProxyProtocol(t *testing.T) {
	d := startSyslog(t)
	b := testenv.Start(t, testenv.Options{Config: fmt.Sprintf("proxyProtocolFrom = [\"127.0.0.2\"]\nperSourcePenaltyAuthFail = 30\nsyslogAddress = \"udp://%s\"\nmetricsListen = \"127.0.0.1:0\"\n", d.pc.LocalAddr())})
	st := b.App.Server.Stats()
	v2 := startProxyBalancer(t, b.Addr, "127.0.0.2", 2, "").via(b)
	v1 := startProxyBalancer(t, b.Addr, "127.0.0.2", 1, "").via(b)

	// The client's address, everywhere.
	r := sshFrom(t, v2, "127.0.0.5", b.AdminKey, "admin", "--json-greppable", "--osh", "selfListSessions")
	if r.Exit != 0 {
		t.Fatalf("login through the v2 balancer: exit %d\n%s\n%s", r.Exit, r.Stdout, r.Stderr)
	}
	auditHas(t, b, "auth", `"ip_from":"127.0.0.5"`, `"ip_balancer":"127.0.0.2"`, `"result":"ok"`)
	open := auditHas(t, b, "session.open", `"ip_from":"127.0.0.5"`, `"ip_balancer":"127.0.0.2"`)
	if strings.Contains(open, `"ip_from":"127.0.0.2"`) {
		t.Errorf("the balancer as the session's source: %s", open)
	}
	d.find(t, "open", map[string]string{"account": "admin", "cmdtype": "osh", "plugin": "selfListSessions", "ip_from": "127.0.0.5"})
	if r := sshFrom(t, v1, "127.0.0.6", b.AdminKey, "admin", "--json-greppable", "--osh", "info"); r.Exit != 0 {
		t.Fatalf("login through the v1 balancer: exit %d\n%s", r.Exit, r.Stderr)
	}
	auditHas(t, b, "auth", `"ip_from":"127.0.0.6"`, `"ip_balancer":"127.0.0.2"`)
	r = sshFrom(t, v2, "127.0.0.5", b.AdminKey, "admin", "--json-greppable", "--osh", "selfListSessions")
	if !strings.Contains(r.Stdout, `"ipfrom":"127.0.0.5"`) || !strings.Contains(r.Stdout, `"ipfrom":"127.0.0.6"`) || strings.Contains(r.Stdout, `"ipfrom":"127.0.0.2"`) {
		t.Errorf("the session list does not show the clients' addresses:\n%s", r.Stdout)
	}
	if n := st.Proxy.Load("accepted"); n < 3 {
		t.Errorf("accepted counted %d, want ≥ 3", n)
	}

	// IPv6 clients (a balancer with an IPv6 frontend): v1 TCP6 and v2 INET6.
	for version, client := range map[int]string{1: "2001:db8::61", 2: "2001:db8::62"} {
		six := startProxyBalancer(t, b.Addr, "127.0.0.2", version, client).via(b)
		if r := sshFrom(t, six, "127.0.0.1", b.AdminKey, "admin", "--osh", "info"); r.Exit != 0 {
			t.Fatalf("login as %s through the v%d balancer: exit %d %s", client, version, r.Exit, r.Stderr)
		}
		auditHas(t, b, "auth", `"ip_from":"`+client+`"`, `"ip_balancer":"127.0.0.2"`, `"result":"ok"`)
	}

	// from= on a key: checked against the client, not the balancer.
	bobKey, bobPub := testenv.NewKey(t, "ed25519", "bob")
	b.MustOK("--osh", "accountCreate", "--account", "bob", "--public-key", fmt.Sprintf("%q", `from="127.0.0.7" `+bobPub))
	if r := sshFrom(t, v2, "127.0.0.7", bobKey, "bob", "--osh", "info"); r.Exit != 0 {
		t.Fatalf("bob from 127.0.0.7 through the balancer: exit %d %s", r.Exit, r.Stderr)
	}
	if r := sshFrom(t, v2, "127.0.0.8", bobKey, "bob", "--osh", "info"); r.Exit != 255 {
		t.Fatalf("bob's from=127.0.0.7 key let 127.0.0.8 in through the balancer: exit %d", r.Exit)
	}

	// A client behind the balancer sends a header of its own, claiming bob's 127.0.0.7: it
	// comes after the balancer's, so it is the client's bytes (SSH ignores a v1 line before its
	// version, and the v2 binary breaks the version exchange); bob's key stays refused to the
	// client's true address, which the audit shows.
	for _, tc := range []struct {
		version int
		from    string
	}{{2, "127.0.0.11"}, {1, "127.0.0.10"}} {
		claim := func(client, front netip.AddrPort) []byte {
			return proxyHeader(tc.version, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.7"), client.Port()), front)
		}
		inner := startRelay(t, net.JoinHostPort(v2.Host, v2.Port), tc.from, claim).via(b)
		if r := sshFrom(t, inner, "127.0.0.1", bobKey, "bob", "--osh", "info"); r.Exit != 255 {
			t.Fatalf("a client's own v%d header behind the balancer passed bob's from=: exit %d", tc.version, r.Exit)
		}
	}
	auditHas(t, b, "auth", `"account":"bob"`, `"ip_from":"127.0.0.10"`, `"ip_balancer":"127.0.0.2"`, `"result":"fail"`)

	// A penalty: 127.0.0.9 fails once (30 s owed, over perSourcePenaltyMin), then is refused at
	// the door; 127.0.0.5 behind the same balancer is not.
	strangerKey, _ := testenv.NewKey(t, "ed25519", "stranger")
	if r := sshFrom(t, v2, "127.0.0.9", strangerKey, "admin", "--osh", "info"); r.Exit != 255 {
		t.Fatalf("a stranger's key let in: exit %d", r.Exit)
	}
	auditHas(t, b, "auth", `"ip_from":"127.0.0.9"`, `"result":"fail"`)
	for deadline := time.Now().Add(10 * time.Second); !penalized(t, v2, "127.0.0.9"); {
		if time.Now().After(deadline) {
			t.Fatal("127.0.0.9 is not refused through the balancer after its failure")
		}
		time.Sleep(20 * time.Millisecond)
	}
	refused := st.PenaltyRefused.Load()
	if r := sshFrom(t, v2, "127.0.0.9", b.AdminKey, "admin", "--osh", "info"); r.Exit != 255 {
		t.Fatalf("the penalized source logged in through the balancer: exit %d", r.Exit)
	}
	if st.PenaltyRefused.Load() != refused+1 {
		t.Errorf("penalty refusals %d → %d, want one more", refused, st.PenaltyRefused.Load())
	}
	for _, other := range []string{"127.0.0.5", "127.0.0.6"} {
		if r := sshFrom(t, v1, other, b.AdminKey, "admin", "--osh", "info"); r.Exit != 0 {
			t.Fatalf("%s behind the same balancer refused after 127.0.0.9's penalty: exit %d %s", other, r.Exit, r.Stderr)
		}
	}

	// A forger: a balancer not in the list (127.0.0.3) claims the client 127.0.0.5 (v2) or
	// 10.66.0.1 (v1); refused, counted, the claimed address in no audit line.
	for i, forged := range []*testenv.Bastion{
		startProxyBalancer(t, b.Addr, "127.0.0.3", 2, "127.0.0.5").via(b),
		startProxyBalancer(t, b.Addr, "127.0.0.3", 1, "10.66.0.1").via(b),
	} {
		before := st.Proxy.Load("untrusted_header")
		if r := sshFrom(t, forged, "127.0.0.1", b.AdminKey, "admin", "--osh", "info"); r.Exit != 255 {
			t.Fatalf("forged header %d: logged in, exit %d", i, r.Exit)
		}
		if st.Proxy.Load("untrusted_header") != before+1 {
			t.Errorf("forged header %d not counted", i)
		}
	}
	if l := auditLines(t, b, "auth"); strings.Contains(strings.Join(l, "\n"), "10.66.0.1") || strings.Contains(strings.Join(l, "\n"), "127.0.0.3") {
		t.Errorf("a forged or forging address in the audit:\n%s", strings.Join(l, "\n"))
	}

	// The balancer's address without a header (a balancer missing send-proxy): refused.
	if r := sshFrom(t, b, "127.0.0.2", b.AdminKey, "admin", "--osh", "info"); r.Exit != 255 {
		t.Fatalf("a connection from the balancer without a header logged in: exit %d", r.Exit)
	}
	if st.Proxy.Load("missing") != 1 {
		t.Errorf("missing counted %d, want 1", st.Proxy.Load("missing"))
	}
	// Anyone else directly, without a header: as without the protocol.
	if r := b.Admin("--osh", "info"); r.Exit != 0 {
		t.Fatalf("a direct login: exit %d %s", r.Exit, r.Stderr)
	}

	// Health checks: HAProxy's v2 LOCAL and v1 UNKNOWN read the SSH banner, then the end.
	dial := func() net.Conn {
		dl := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Timeout: 5 * time.Second}
		c, err := dl.Dial("tcp", b.Addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	for _, hc := range [][]byte{[]byte("\r\n\r\n\x00\r\nQUIT\n\x20\x00\x00\x00"), []byte("PROXY UNKNOWN\r\n")} {
		c := dial()
		c.Write(hc)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		got, err := io.ReadAll(c)
		if err != nil || string(got) != "SSH-2.0-gatehouse\r\n" {
			t.Errorf("health check %q: read %q, %v", hc, got, err)
		}
	}
	if n := st.Proxy.Load("health_check"); n != 2 {
		t.Errorf("health checks counted %d, want 2", n)
	}

	// A balancer connection that sends nothing holds its maxStartups slot no longer than the
	// header deadline.
	c := dial()
	start := time.Now()
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if got, err := io.ReadAll(c); err != nil || len(got) != 0 {
		t.Errorf("a silent balancer connection: read %q, %v (want closed without a word)", got, err)
	}
	if el := time.Since(start); el > 20*time.Second {
		t.Errorf("the silent connection was closed after %v", el)
	}
	if st.Proxy.Load("timeout") != 1 {
		t.Errorf("timeout counted %d, want 1", st.Proxy.Load("timeout"))
	}
	waitMetrics(t, b)
	for result, want := range map[string]float64{"untrusted_header": 2, "health_check": 2, "missing": 1, "timeout": 1, "malformed": 0} {
		if got := scrapeSample(t, b, `gatehouse_proxy_protocol_connections_total{result="`+result+`"}`); got != want {
			t.Errorf("gatehouse_proxy_protocol_connections_total{result=%q} = %v, want %v", result, got, want)
		}
	}
}

// penalized tells whether a connection from the source through the balancer b is closed
// before the SSH banner (a penalty in force). One that gets the banner ends unauthenticated,
// which only adds to the source's debt.
func penalized(t *testing.T, b *testenv.Bastion, from string) bool {
	t.Helper()
	dl := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	c, err := dl.Dial("tcp", net.JoinHostPort(b.Host, b.Port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var banner [4]byte
	n, _ := io.ReadFull(c, banner[:])
	return n == 0
}
