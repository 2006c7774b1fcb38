package main

// These tests load the real pam_gatehouse.so into real PAM applications (pamtester, sudo) and let
// it ask a real gatehouse. They need root (to write /etc/pam.d), pamtester, oathtool and a C
// compiler with libpam0g-dev; scripts/test.sh installs them.

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/audit"
	"gatehouse/internal/mfa/totp"
	"gatehouse/internal/mfaauth"
	"gatehouse/internal/pamverify"
	"gatehouse/internal/testenv"
	"gatehouse/internal/ticket"
)

func need(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Need(t, "needs root to write /etc/pam.d")
	}
	for _, bin := range []string{"pamtester", "oathtool", "cc"} {
		if _, err := exec.LookPath(bin); err != nil {
			testenv.Need(t, "needs %s (scripts/test.sh installs it)", bin)
		}
	}
	if _, err := os.Stat("/usr/include/security/pam_modules.h"); err != nil {
		testenv.Need(t, "needs libpam0g-dev")
	}
}

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
	buildOut  []byte
)

// build runs scripts/build-pam.sh once per test binary, as a target's administrator would: the
// C module and its Go helper, in a root-owned directory.
func build(t *testing.T) (so, helper string) {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "pam_gatehouse")
		if buildErr != nil {
			return
		}
		if buildErr = os.Chmod(buildDir, 0o755); buildErr != nil {
			return
		}
		buildOut, buildErr = exec.Command("../../scripts/build-pam.sh", buildDir).CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("build the module: %v\n%s", buildErr, buildOut)
	}
	return filepath.Join(buildDir, "pam_gatehouse.so"), filepath.Join(buildDir, "pam_gatehouse_helper")
}

// module is the built pam_gatehouse.so.
func module(t *testing.T) string {
	so, _ := build(t)
	return so
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	if cParserInst != nil {
		os.RemoveAll(filepath.Dir(cParserInst.bin))
	}
	os.Exit(code)
}

// pamService writes /etc/pam.d/gatehouse-test-<random> loading the module with args (and the
// test's helper), removed at the end of the test.
func pamService(t *testing.T, args ...string) string {
	t.Helper()
	_, helper := build(t)
	return pamServiceRaw(t, append([]string{"helper=" + helper}, args...)...)
}

// pamServiceRaw is pamService without the helper= argument.
func pamServiceRaw(t *testing.T, args ...string) string {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "gatehouse-test-" + hex.EncodeToString(b)
	path := filepath.Join("/etc/pam.d", name)
	body := fmt.Sprintf("auth required %s %s\naccount required pam_permit.so\nsession required pam_permit.so\npassword required pam_deny.so\n",
		module(t), strings.Join(args, " "))
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(path) })
	return name
}

// site is a bastion with the PAM endpoint on, and what a target needs to ask it.
type site struct {
	b         *testenv.Bastion
	url       string
	caFile    string
	tokens    map[string]string // server name → token file
	ticketKey ed25519.PrivateKey
	keys      map[string]string // account → private key file
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startSite starts gatehouse with servers web1 (127.0.0.1, web1), web2 (10.9.9.9, web2) and web3
// (10.9.9.10, web3) and web4 (10.9.9.11, web4); web2 also accepts requests without a ticket,
// web3 asks a chat code, web4 a colleague's approval except for sudo /bin/true, a TOTP.
// top are extra top-level configuration lines.
func startSite(t *testing.T, top ...string) *site {
	t.Helper()
	return startSiteRules(t, "", top...)
}

// startSiteRules is startSite with more of the [pam] section after the servers (rules).
func startSiteRules(t *testing.T, rules string, top ...string) *site {
	t.Helper()
	dir := t.TempDir()
	s := &site{tokens: map[string]string{}, keys: map[string]string{}}
	port := freePort(t)
	cfg := strings.Join(top, "\n") + fmt.Sprintf("\n[pam]\nlisten = \"127.0.0.1:%d\"\n", port)
	for name, addrs := range map[string]string{"web1": `["127.0.0.1", "web1"]`, "web2": `["10.9.9.9", "web2"]`, "web3": `["10.9.9.10", "web3"]`, "web4": `["10.9.9.11", "web4"]`} {
		tok, sum, err := pamverify.NewToken()
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(dir, name+".token")
		if err := os.WriteFile(f, []byte(tok+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		s.tokens[name] = f
		factor := "totp"
		if name == "web3" {
			factor = "webhook" // a code posted to the team's chat
		}
		if name == "web4" {
			factor = "approval"
		}
		cfg += fmt.Sprintf("[pam.servers.%s]\ntoken_sha256 = %q\naddresses = %s\nallow_no_ticket = %v\nfactor = %q\n", name, sum, addrs, name == "web2", factor)
		if name == "web4" { // the module sends sudo's command line (none under pamtester)
			cfg += "[[pam.servers.web4.rule]]\ncommand = \"/bin/true*\"\nfactor = \"totp\"\n"
		}
	}
	s.b = testenv.Start(t, testenv.Options{Config: cfg + rules})
	s.url = fmt.Sprintf("https://127.0.0.1:%d", port)
	s.caFile = filepath.Join(s.b.DataDir, "pam_tls.crt")
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			if _, err := os.Stat(s.caFile); err == nil {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the PAM endpoint did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	data, err := os.ReadFile(filepath.Join(s.b.DataDir, "pam_ticket_ed25519"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	s.ticketKey = k.(ed25519.PrivateKey)
	return s
}

// person creates an account with a TOTP key and returns its base32 secret.
func (s *site) person(t *testing.T, name string) string {
	t.Helper()
	s.keys[name] = s.b.CreateAccount(name)
	secret, err := totp.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	key := totp.Key{Secret: secret, Kind: totp.KindTOTP, Digits: 6, Period: 30}
	if err := s.b.App.MFA.SaveTOTP(context.Background(), name, mfaauth.TOTPEnrolment{Key: &key, Source: "test"}); err != nil {
		t.Fatal(err)
	}
	return totp.EncodeSecret(secret)
}

// ticketFor signs a ticket as the bastion does when account opens a session to host/ip.
func (s *site) ticketFor(t *testing.T, key ed25519.PrivateKey, account, host, ip string, issued time.Time, ttl time.Duration) string {
	t.Helper()
	acc, err := s.b.App.Store.GetAccount(context.Background(), account)
	if err != nil {
		t.Fatal(err)
	}
	tk, err := ticket.New(issued, ttl, acc.ID, account, "sess-"+account, host, ip, 22, "root")
	if err != nil {
		t.Fatal(err)
	}
	enc, err := ticket.Encode(key, tk)
	if err != nil {
		t.Fatal(err)
	}
	return enc
}

func (s *site) args(server string, extra ...string) []string {
	return append([]string{"url=" + s.url, "token_file=" + s.tokens[server], "ca_file=" + s.caFile, "timeout=3s", "config=none"}, extra...)
}

// pamtester runs the real pamtester on service as user, answering stdin; it returns whether
// PAM said yes and what it printed.
func pamtester(t *testing.T, service, user, tkt, stdin string) (bool, string) {
	t.Helper()
	cmd := exec.Command("pamtester", "-v", service, user, "authenticate")
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	if tkt != "" {
		cmd.Env = append(cmd.Env, "GATEHOUSE_TICKET="+tkt)
	}
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("pamtester: %v", err)
		}
	}
	return err == nil && strings.Contains(string(out), "successfully authenticated"), string(out)
}

func oathtool(t *testing.T, secret, when string) string {
	t.Helper()
	args := []string{"--totp", "-b", secret}
	if when != "" {
		args = append(args, "-N", when)
	}
	out, err := exec.Command("oathtool", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("oathtool: %v: %s", err, out)
	}
	return strings.TrimSpace(string(out))
}

// pamEvents are the audit log's pam.verify events.
func pamEvents(t *testing.T, b *testenv.Bastion) []map[string]any {
	t.Helper()
	files, err := audit.Files(filepath.Join(b.DataDir, "audit"))
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, f := range files {
		body, _ := os.ReadFile(f)
		for _, l := range bytes.Split(body, []byte("\n")) {
			var m map[string]any
			if json.Unmarshal(l, &m) == nil && m["type"] == "pam.verify" {
				out = append(out, m)
			}
		}
	}
	return out
}

// lastComment is the comment of the last pam.verify event.
func lastComment(t *testing.T, b *testenv.Bastion) string {
	t.Helper()
	ev := pamEvents(t, b)
	if len(ev) == 0 {
		t.Fatal("no pam.verify event in the audit log")
	}
	raw, _ := json.Marshal(ev[len(ev)-1])
	var e struct {
		Fields struct {
			Comment string `json:"comment"`
		} `json:"fields"`
		Comment string `json:"comment"`
	}
	_ = json.Unmarshal(raw, &e)
	if e.Fields.Comment != "" {
		return e.Fields.Comment
	}
	return e.Comment
}

func TestModuleTOTPThroughPamtester(t *testing.T) {
	need(t)
	s := startSite(t)
	secret := s.person(t, "alice")
	svc := pamService(t, s.args("web1")...)
	now := time.Now()
	tk := s.ticketFor(t, s.ticketKey, "alice", "web1", "127.0.0.1", now, time.Hour)

	code := oathtool(t, secret, "")
	ok, out := pamtester(t, svc, "root", tk, code+"\n")
	if !ok {
		t.Fatalf("right code refused:\n%s", out)
	}
	if c := lastComment(t, s.b); !strings.Contains(c, "on web1 by alice as root: TOTP ok") {
		t.Fatalf("audit comment %q", c)
	}
	if !strings.Contains(out, "TOTP ok for alice") {
		t.Fatalf("the person is not told who was checked:\n%s", out)
	}

	for _, c := range []struct {
		name, svc, ticket, stdin, audit string
	}{
		{"replayed code", svc, tk, code + "\n", "refused: TOTP code already used"},
		{"wrong code", svc, tk, "000000\n", "refused: wrong TOTP code"},
		{"code replayed on another server", pamService(t, s.args("web2")...),
			s.ticketFor(t, s.ticketKey, "alice", "web2", "10.9.9.9", now, time.Hour), code + "\n", "refused: TOTP code already used"},
		{"ticket of another server", pamService(t, s.args("web2")...), tk, oathtool(t, secret, "now + 30 seconds") + "\n", "refused: ticket issued for another server"},
		{"forged ticket", svc, s.ticketFor(t, otherKey(t), "alice", "web1", "127.0.0.1", now, time.Hour), code + "\n", "refused: ticket forged"},
		{"expired ticket", svc, s.ticketFor(t, s.ticketKey, "alice", "web1", "127.0.0.1", now.Add(-2*time.Hour), time.Hour), code + "\n", "refused: ticket expired"},
		{"truncated ticket", svc, tk[:len(tk)/2], code + "\n", "refused: ticket invalid"},
		{"no ticket (web1 requires one)", pamService(t, s.args("web1", "no_ticket=ask")...), "", "alice\n" + code + "\n", "refused: no ticket"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := len(pamEvents(t, s.b))
			ok, out := pamtester(t, c.svc, "root", c.ticket, c.stdin)
			if ok {
				t.Fatalf("allowed:\n%s", out)
			}
			if ev := pamEvents(t, s.b); len(ev) != before+1 {
				t.Fatalf("%d new audit events, want 1", len(ev)-before)
			}
			if got := lastComment(t, s.b); !strings.Contains(got, c.audit) {
				t.Fatalf("audit comment %q, want %q", got, c.audit)
			}
		})
	}

	// The module refuses on its own (nothing reaches the bastion): no ticket with
	// no_ticket=refuse, and a conversation that returns nothing.
	for _, c := range []struct{ name, ticket, stdin string }{
		{"no ticket, refuse", "", oathtool(t, secret, "now + 30 seconds") + "\n"},
		{"empty conversation", tk, ""},
		{"empty answer", tk, "\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := len(pamEvents(t, s.b))
			if ok, out := pamtester(t, svc, "root", c.ticket, c.stdin); ok {
				t.Fatalf("allowed:\n%s", out)
			}
			if n := len(pamEvents(t, s.b)); n != before {
				t.Fatalf("the bastion was asked (%d events)", n-before)
			}
		})
	}

	// A frozen account is refused even with a right code and a valid ticket.
	s.b.MustOK("--osh", "accountFreeze", "--account", "alice", "--reason", "test")
	if ok, out := pamtester(t, svc, "root", tk, oathtool(t, secret, "now + 30 seconds")+"\n"); ok {
		t.Fatalf("frozen account allowed:\n%s", out)
	}
	if c := lastComment(t, s.b); !strings.Contains(c, "refused: account frozen") {
		t.Fatalf("audit comment %q", c)
	}
}

// Without a ticket (a console login), a server that allows it asks the account name.
func TestModuleNoTicketAsksAccount(t *testing.T) {
	need(t)
	s := startSite(t)
	secret := s.person(t, "bob")
	svc := pamService(t, s.args("web2", "no_ticket=ask")...)
	if ok, out := pamtester(t, svc, "root", "", "bob\n"+oathtool(t, secret, "")+"\n"); !ok {
		t.Fatalf("refused:\n%s", out)
	}
	if c := lastComment(t, s.b); !strings.Contains(c, "by bob as root: TOTP ok") {
		t.Fatalf("audit comment %q", c)
	}
	if ok, _ := pamtester(t, svc, "root", "", "nobody\n123456\n"); ok {
		t.Fatal("an unknown account was allowed")
	}
	if c := lastComment(t, s.b); !strings.Contains(c, "refused: unknown account") {
		t.Fatalf("audit comment %q", c)
	}
}

func otherKey(t *testing.T) ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// A bastion that is down, slow, badly certified or answering garbage is a no.
func TestModuleFailsClosed(t *testing.T) {
	need(t)
	dir := t.TempDir()
	token := filepath.Join(dir, "token")
	if err := os.WriteFile(token, []byte("ght_x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tk := "gt1.x.y" // never checked: these bastions are not gatehouse
	fake := func(h http.HandlerFunc) (string, string) {
		srv := httptest.NewTLSServer(h)
		t.Cleanup(srv.Close)
		ca := filepath.Join(dir, fmt.Sprintf("ca-%d.pem", time.Now().UnixNano()))
		pemData := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
		if err := os.WriteFile(ca, pemData, 0o644); err != nil {
			t.Fatal(err)
		}
		return srv.URL, ca
	}
	// Each stand-in answers the start with a TOTP prompt, and the verify as the case says.
	started := func(verify func(w http.ResponseWriter, r *http.Request)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == pamverify.PathStart {
				fmt.Fprint(w, `{"allow":false,"message":"","factor":"totp","prompt":"Code: "}`)
				return
			}
			verify(w, r)
		}
	}
	yes := started(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"allow":true,"message":"yes"}`) })
	okURL, okCA := fake(yes)
	// The harness itself: a well-formed yes from a trusted bastion is allowed.
	svc := pamService(t, "url="+okURL, "token_file="+token, "ca_file="+okCA, "timeout=2s", "config=none")
	if ok, out := pamtester(t, svc, "root", tk, "123456\n"); !ok {
		t.Fatalf("the reference yes was refused:\n%s", out)
	}

	release := make(chan struct{})
	slowURL, slowCA := fake(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		yes(w, r)
	})
	t.Cleanup(func() { close(release) }) // after the server's own cleanup was registered: runs first
	otherCA := selfSigned(t, dir)
	down := fmt.Sprintf("https://127.0.0.1:%d", freePort(t))
	cases := []struct {
		name string
		args []string
	}{
		{"bastion down", []string{"url=" + down, "ca_file=" + okCA}},
		{"slow bastion", []string{"url=" + slowURL, "ca_file=" + slowCA, "timeout=1s"}},
		{"certificate of another CA", []string{"url=" + okURL, "ca_file=" + otherCA}},
		{"system roots only (self-signed bastion)", []string{"url=" + okURL}},
		{"plain http", []string{"url=" + strings.Replace(okURL, "https", "http", 1), "ca_file=" + okCA}},
		{"no token file", []string{"url=" + okURL, "ca_file=" + okCA, "token_file=" + filepath.Join(dir, "missing")}},
		{"unknown option", []string{"url=" + okURL, "ca_file=" + okCA, "allow=yes"}},
	}
	for _, body := range []string{`{"allow":"yes"}`, `allow`, `{"allow":true,"admin":1}`, `{"allow":true}{"allow":true}`, ``} {
		u, ca := fake(started(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, body) }))
		cases = append(cases, struct {
			name string
			args []string
		}{"garbage " + body, []string{"url=" + u, "ca_file=" + ca}})
	}
	u500, ca500 := fake(started(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(500)
		fmt.Fprint(w, `{"allow":true}`)
	}))
	// A start that says yes at once (no prompt, no factor) is no yes either.
	uNoFactor, caNoFactor := fake(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"allow":true,"message":"yes"}`) })
	cases = append(cases, struct {
		name string
		args []string
	}{"yes without asking a factor", []string{"url=" + uNoFactor, "ca_file=" + caNoFactor}})
	cases = append(cases, struct {
		name string
		args []string
	}{"HTTP 500 with a yes", []string{"url=" + u500, "ca_file=" + ca500}})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"token_file=" + token, "timeout=2s", "config=none"}, c.args...)
			svc := pamService(t, args...)
			start := time.Now()
			if ok, out := pamtester(t, svc, "root", tk, "123456\n"); ok {
				t.Fatalf("allowed:\n%s", out)
			}
			if d := time.Since(start); d > 8*time.Second {
				t.Fatalf("took %s: the timeout is not applied", d)
			}
		})
	}
}

// selfSigned writes a CA certificate no test server uses (httptest's servers share one).
func selfSigned(t *testing.T, dir string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "another CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "other-ca.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
