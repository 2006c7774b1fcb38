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
	"gatehouse/internal/testenv"
)

// TestLoginStormDefaultConfig: 1,000 honest logins at once, each from its own address (127.1.x.y,
// as many users reconnecting after a restart would be), against the default configuration: none
// is refused, by the global maxStartups or the per-source limits. It logs the p50/p99 and the
// total time (docs/performance.md). GATEHOUSE_STORM=N changes the number of logins.
func TestLoginStormDefaultConfig(t *testing.T) {
	n := 1000
	if v, err := strconv.Atoi(os.Getenv("GATEHOUSE_STORM")); err == nil && v > 0 {
		n = v
	}
	b := testenv.Start(t, testenv.Options{})
	ctx := context.Background()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := ssh.NewSignerFromKey(priv)
	spub, _ := ssh.NewPublicKey(pub)
	k, err := sshkey.Parse(string(ssh.MarshalAuthorizedKey(spub)))
	if err != nil {
		t.Fatal(err)
	}
	const accounts = 100
	for i := range accounts {
		acc := store.Account{Name: fmt.Sprintf("storm%03d", i), CreatedAt: time.Now().UTC(), CreatedBy: "test", MaxInactiveDays: -1}
		if err := b.App.Store.CreateAccount(ctx, acc, []store.IngressKey{{Line: k.Line, Type: k.Type, Fingerprint: k.Fingerprint, CreatedAt: time.Now().UTC()}}); err != nil {
			t.Fatal(err)
		}
	}
	var start sync.WaitGroup
	start.Add(1)
	lat := make([]time.Duration, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			src := &net.TCPAddr{IP: net.IPv4(127, 1, byte(i/250), byte(i%250+1))}
			cfg := &ssh.ClientConfig{User: fmt.Sprintf("storm%03d", i%accounts), Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
				HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 60 * time.Second}
			start.Wait()
			t0 := time.Now()
			nc, err := (&net.Dialer{LocalAddr: src, Timeout: 60 * time.Second}).Dial("tcp", b.Addr)
			if err == nil {
				var c ssh.Conn
				c, _, _, err = ssh.NewClientConn(nc, b.Addr, cfg)
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
	all := time.Since(t0)
	refused := 0
	var first error
	for _, err := range errs {
		if err != nil {
			refused++
			first = err
		}
	}
	slices.Sort(lat)
	t.Logf("%d concurrent logins from %d addresses: %d refused, all in %v, p50 %v, p99 %v, max %v", n, n, refused, all.Round(time.Millisecond),
		lat[n/2].Round(time.Millisecond), lat[n*99/100].Round(time.Millisecond), lat[n-1].Round(time.Millisecond))
	if refused > 0 {
		t.Fatalf("%d of %d honest logins refused with the default configuration (one: %v)", refused, n, first)
	}
}
