package e2e

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"gatehouse/internal/sshkey"
	"gatehouse/internal/store"
	"gatehouse/internal/store/postgres/pgtest"
	"gatehouse/internal/testenv"
)

// TestLoginStormDefaultConfig: 1,000 honest logins at once, each from its own address (127.1.x.y,
// as many users reconnecting after a restart would be), against the default configuration: none
// is refused, by the global maxStartups or the per-source limits. It logs the p50/p99 and the
// total time (docs/performance.md). GATEHOUSE_STORM=N changes the number of logins.
func TestLoginStormDefaultConfig(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	signer := stormAccounts(t, b.App.Store)
	n := stormSize()
	res := storm(t, signer, n, []string{b.Addr})
	t.Logf("%d concurrent logins from %d addresses: %s", n, n, res)
	if res.refused > 0 {
		t.Fatalf("%d of %d honest logins refused with the default configuration (one: %v)", res.refused, n, res.first)
	}
}

// TestLoginStormTwoNodes: the same storm on two nodes sharing one PostgreSQL, spread over both,
// then all on one of them, in one run (docs/performance.md): none refused either way.
func TestLoginStormTwoNodes(t *testing.T) {
	nodes := testenv.StartNodes(t, 2, testenv.Options{Store: pgtest.Fresh(t)})
	signer := stormAccounts(t, nodes[0].App.Store)
	n := stormSize()
	for _, c := range []struct {
		name  string
		addrs []string
	}{
		{"two nodes", []string{nodes[0].Addr, nodes[1].Addr}},
		{"one node", []string{nodes[0].Addr}},
		{"two nodes again", []string{nodes[0].Addr, nodes[1].Addr}},
	} {
		res := storm(t, signer, n, c.addrs)
		t.Logf("%d concurrent logins on %s (PostgreSQL store): %s", n, c.name, res)
		if res.refused > 0 {
			t.Fatalf("%s: %d of %d honest logins refused (one: %v)", c.name, res.refused, n, res.first)
		}
	}
}

// stormSize is 1,000, or $GATEHOUSE_STORM.
func stormSize() int {
	if v, err := strconv.Atoi(os.Getenv("GATEHOUSE_STORM")); err == nil && v > 0 {
		return v
	}
	return 1000
}

const stormAccountCount = 100

// stormAccounts creates the storm's 100 accounts, all with one key, and returns its signer.
func stormAccounts(t *testing.T, st store.Store) ssh.Signer {
	t.Helper()
	ctx := context.Background()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := ssh.NewSignerFromKey(priv)
	spub, _ := ssh.NewPublicKey(pub)
	k, err := sshkey.Parse(string(ssh.MarshalAuthorizedKey(spub)))
	if err != nil {
		t.Fatal(err)
	}
	for i := range stormAccountCount {
		acc := store.Account{Name: fmt.Sprintf("storm%03d", i), CreatedAt: time.Now().UTC(), CreatedBy: "test", MaxInactiveDays: -1}
		if err := st.CreateAccount(ctx, acc, []store.IngressKey{{Line: k.Line, Type: k.Type, Fingerprint: k.Fingerprint, CreatedAt: time.Now().UTC()}}); err != nil {
			t.Fatal(err)
		}
	}
	return signer
}

type stormResult struct {
	refused            int
	first              error
	all, p50, p99, max time.Duration
}

func (r stormResult) String() string {
	return fmt.Sprintf("%d refused, all in %v, p50 %v, p99 %v, max %v", r.refused, r.all.Round(time.Millisecond),
		r.p50.Round(time.Millisecond), r.p99.Round(time.Millisecond), r.max.Round(time.Millisecond))
}

// storm runs n logins at once, each from its own address (127.1.x.y, as many users reconnecting
// after a restart would be), login i on addrs[i%len(addrs)].
func storm(t *testing.T, signer ssh.Signer, n int, addrs []string) stormResult {
	t.Helper()
	var start sync.WaitGroup
	start.Add(1)
	lat := make([]time.Duration, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			addr := addrs[i%len(addrs)]
			src := &net.TCPAddr{IP: net.IPv4(127, 1, byte(i/250), byte(i%250+1))}
			cfg := &ssh.ClientConfig{User: fmt.Sprintf("storm%03d", i%stormAccountCount), Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
				HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 60 * time.Second}
			start.Wait()
			t0 := time.Now()
			nc, err := (&net.Dialer{LocalAddr: src, Timeout: 60 * time.Second}).Dial("tcp", addr)
			if err == nil {
				var c ssh.Conn
				c, _, _, err = ssh.NewClientConn(nc, addr, cfg)
				if err == nil {
					c.Close()
				} else {
					nc.Close()
				}
			}
			lat[i], errs[i] = time.Since(t0), err
		}()
	}
	t0 := time.Now()
	start.Done()
	wg.Wait()
	r := stormResult{all: time.Since(t0)}
	for _, err := range errs {
		if err != nil {
			r.refused++
			r.first = err
		}
	}
	slices.Sort(lat)
	r.p50, r.p99, r.max = lat[n/2], lat[n*99/100], lat[n-1]
	return r
}
