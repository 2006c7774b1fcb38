package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"golang.org/x/crypto/ssh"

	"gatehouse/internal/app"
	"gatehouse/internal/keysync"
	"gatehouse/internal/store"
	"gatehouse/internal/testenv"
)

// bucket is a bucket of the test's S3 server, written with the SDK as an operator's tooling
// (aws s3 cp) would.
type bucket struct {
	t    *testing.T
	cl   *minio.Client
	name string
}

func newBucket(t *testing.T, s3 *testenv.S3Server, name string) *bucket {
	t.Helper()
	cl, err := minio.New(strings.TrimPrefix(s3.Endpoint, "http://"), &minio.Options{
		Creds: credentials.NewStaticV4(s3.Access, s3.Secret, ""), Region: "us-east-1", BucketLookup: minio.BucketLookupPath})
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.MakeBucket(context.Background(), name, minio.MakeBucketOptions{Region: "us-east-1"}); err != nil {
		t.Fatalf("make bucket: %v", err)
	}
	return &bucket{t: t, cl: cl, name: name}
}

func (b *bucket) put(key, content string) {
	b.t.Helper()
	_, err := b.cl.PutObject(context.Background(), b.name, key, strings.NewReader(content), int64(len(content)), minio.PutObjectOptions{})
	if err != nil {
		b.t.Fatalf("put %s: %v", key, err)
	}
}

func (b *bucket) remove(key string) {
	b.t.Helper()
	if err := b.cl.RemoveObject(context.Background(), b.name, key, minio.RemoveObjectOptions{}); err != nil {
		b.t.Fatalf("remove %s: %v", key, err)
	}
}

// noPenalty: the tests try refused logins on purpose, which would otherwise shut the source out.
const noPenalty = "perSourcePenalties = false\n"

// syncRun runs every source once and fails the test unless the results are as wanted.
func syncRun(t *testing.T, b *testenv.Bastion, wantRefused bool) []keysync.Result {
	t.Helper()
	res := b.App.Sync.RunOnce(context.Background(), keysync.Options{})
	for _, r := range res {
		if r.Plan.Refused() != wantRefused || (!wantRefused && r.Err != nil) {
			t.Fatalf("sync %s: verdict %s (%s), err %v, applied %d", r.Plan.Source, r.Plan.Verdict, r.Plan.Reason, r.Err, len(r.Applied))
		}
	}
	return res
}

// waitSyncRuns waits until the sync loop finished n runs of source (it runs at start).
func waitSyncRuns(t *testing.T, b *testenv.Bastion, source string, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		total := 0
		for _, l := range strings.Split(metricsText(t, b), "\n") {
			if strings.HasPrefix(l, "gatehouse_sync_runs_total{") && strings.Contains(l, `source="`+source+`"`) {
				var v int
				fmt.Sscanf(l[strings.LastIndex(l, " ")+1:], "%d", &v)
				total += v
			}
		}
		if total >= n {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("the sync of %s never ran %d time(s)", source, n)
}

func loginOK(t *testing.T, b *testenv.Bastion, key, account string) {
	t.Helper()
	if r := b.SSH(key, account, "--osh", "info"); r.Exit != 0 {
		t.Fatalf("%s cannot log in with %s: exit %d\n%s%s", account, filepath.Base(key), r.Exit, r.Stdout, r.Stderr)
	}
}

func loginRefused(t *testing.T, b *testenv.Bastion, key, account string) {
	t.Helper()
	if r := b.SSH(key, account, "--osh", "info"); r.Exit == 0 {
		t.Fatalf("%s logged in with %s, which should be refused:\n%s", account, filepath.Base(key), r.Stdout)
	}
}

func account(t *testing.T, b *testenv.Bastion, name string) store.Account {
	t.Helper()
	a, err := b.App.Store.GetAccount(context.Background(), name)
	if err != nil {
		t.Fatalf("account %s: %v", name, err)
	}
	return a
}

// TestSyncS3 drives the whole flow against a real S3 server (versitygw) with the real ssh
// client: objects PREFIX/<account>.pub create accounts that log in, a key removed from the
// bucket stops working, all keys removed freeze the account, keys back unfreeze it; an emptied
// bucket changes nothing and alerts; an account made by hand is never touched; dry-run changes
// nothing; every change is audited with the source and the object's ETag.
func TestSyncS3(t *testing.T) {
	s3 := testenv.StartS3(t)
	alerts := newHook(t, "slack")
	const src = "s3main"
	b := testenv.Start(t, testenv.Options{Config: fmt.Sprintf(noPenalty+`[sync]
interval = "1h"
maxRemoveShare = 0.5

[[sync.source]]
name = %q
kind = "s3"
bucket = "bastion-keys"
prefix = "public-keys/"
endpoint = %q
region = "us-east-1"
access_key = %q
secret_key = %q

[notify]
`, src, s3.Endpoint, s3.Access, s3.Secret) + channelTOML("alerts", alerts, "") + "[notify.alerts]\nchannels = [\"alerts\"]\nkinds = [\"sync_refused\"]\n"})
	// The run at start finds no bucket: refused, alerted, nothing changed.
	waitSyncRuns(t, b, src, 1)
	alerts.waitFor(t, "could not be read completely")

	carolKey := b.CreateAccount("carol") // by hand: the sync must never touch it
	group(t, b, "web", "")
	bk := newBucket(t, s3, "bastion-keys")
	alice1, alice1Pub := testenv.NewKey(t, "ed25519", "alice1")
	alice2, alice2Pub := testenv.NewKey(t, "ecdsa", "alice2")
	bob, bobPub := testenv.NewKey(t, "ed25519", "bob")
	mallory, malloryPub := testenv.NewKey(t, "ed25519", "mallory")
	bk.put("public-keys/alice.pub", "# alice\n"+alice1Pub+"\nssh-dss AAAAB3NzaC1kc3M= old\n"+alice2Pub+"\n")
	bk.put("public-keys/alice.groups", "web\n")
	bk.put("public-keys/bob.pub", bobPub+"\n")
	bk.put("public-keys/carol.pub", malloryPub+"\n")
	bk.put("public-keys/README.txt", "not a key\n")

	// Dry run: the diff, and nothing changed.
	plan, err := app.SyncPlan(context.Background(), b.DataDir, "", false)
	if err != nil || len(plan) != 1 || plan[0].Plan.Refused() {
		t.Fatalf("dry run: %v %+v", err, plan)
	}
	var diff []string
	for _, c := range plan[0].Plan.Changes {
		diff = append(diff, c.String())
	}
	if d := strings.Join(diff, "\n"); !strings.Contains(d, "+ account alice (2 key(s))") || !strings.Contains(d, "+ account bob") ||
		!strings.Contains(d, "+ member alice of group web") || strings.Contains(d, "carol") {
		t.Fatalf("dry-run diff:\n%s", d)
	}
	if _, err := b.App.Store.GetAccount(context.Background(), "alice"); err == nil {
		t.Fatal("dry run created alice")
	}
	loginRefused(t, b, alice1, "alice")

	res := syncRun(t, b, false)
	if len(res[0].Applied) != 3 {
		t.Fatalf("applied %v", res[0].Applied)
	}
	if sk := strings.Join(res[0].Plan.Skipped, "\n"); !strings.Contains(sk, "alice: line 3 skipped") || !strings.Contains(sk, "carol: an account of this name exists") {
		t.Fatalf("skipped:\n%s", sk)
	}
	loginOK(t, b, alice1, "alice")
	loginOK(t, b, alice2, "alice")
	loginOK(t, b, bob, "bob")
	loginOK(t, b, carolKey, "carol")
	loginRefused(t, b, mallory, "carol")
	if g, _ := b.App.Store.GetGroup(context.Background(), "web"); !g.Has(store.RoleMember, "alice") {
		t.Fatalf("alice is not a member of web: %+v", g.Roles)
	}
	etag := auditHas(t, b, "sync.create_account", `"account":"alice"`, src, "s3://bastion-keys/public-keys/alice.pub", "etag:")
	t.Logf("audit: %s", etag)
	if strings.Contains(etag, "BEGIN") {
		t.Fatal("audit carries a private key")
	}

	// One key removed from the object: it stops working, the other goes on.
	bk.put("public-keys/alice.pub", alice2Pub+"\n")
	syncRun(t, b, false)
	loginRefused(t, b, alice1, "alice")
	loginOK(t, b, alice2, "alice")
	auditHas(t, b, "sync.remove_key", `"account":"alice"`, src, "etag:")

	// All keys removed: frozen, its keys gone, login refused, and its running session ends.
	term := b.SSHTerminal(alice2, "alice", 100, 30, "-i")
	term.Expect(0, "alice@gatehouse(master)> ", 10*time.Second)
	bk.remove("public-keys/alice.pub")
	syncRun(t, b, false)
	if code := term.Wait(10 * time.Second); code != 131 {
		t.Fatalf("alice's session after the freeze: exit %d, want 131\n%s", code, term.Output())
	}
	if a := account(t, b, "alice"); !a.Frozen || !strings.Contains(a.FrozenReason, src) {
		t.Fatalf("alice not frozen by the sync: %+v", a)
	}
	loginRefused(t, b, alice2, "alice")
	auditHas(t, b, "sync.freeze", `"account":"alice"`, src)

	// Keys back: unfrozen, login works again.
	bk.put("public-keys/alice.pub", alice2Pub+"\n")
	syncRun(t, b, false)
	if a := account(t, b, "alice"); a.Frozen {
		t.Fatalf("alice still frozen: %+v", a)
	}
	loginOK(t, b, alice2, "alice")
	auditHas(t, b, "sync.unfreeze", `"account":"alice"`, src)

	// The bucket emptied: nothing changes, an alert is raised.
	for _, k := range []string{"public-keys/alice.pub", "public-keys/alice.groups", "public-keys/bob.pub", "public-keys/carol.pub"} {
		bk.remove(k)
	}
	syncRun(t, b, true)
	alerts.waitFor(t, "lists no account with a valid key")
	loginOK(t, b, alice2, "alice")
	loginOK(t, b, bob, "bob")
	loginOK(t, b, carolKey, "carol")
	auditHas(t, b, "sync.refused", src, "refused_empty")

	m := metricsText(t, b)
	for _, want := range []string{
		`gatehouse_sync_runs_total{result="refused",source="s3main"}`,
		`gatehouse_sync_runs_total{result="ok",source="s3main"} 4`,
		`gatehouse_sync_changes_total{kind="create_account",source="s3main"} 2`,
		`gatehouse_sync_changes_total{kind="freeze",source="s3main"} 1`,
		`gatehouse_sync_failures_total{source="s3main"} 1`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestSyncShareRefused: a run that would freeze more than maxRemoveShare of the accounts a
// source manages changes nothing and alerts.
func TestSyncShareRefused(t *testing.T) {
	dir := t.TempDir()
	alerts := newHook(t, "slack")
	keys := map[string]string{}
	for _, n := range []string{"ann", "ben", "cat"} {
		k, pub := testenv.NewKey(t, "ed25519", n)
		keys[n] = k
		if err := os.WriteFile(filepath.Join(dir, n+".pub"), []byte(pub+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b := testenv.Start(t, testenv.Options{Config: fmt.Sprintf(noPenalty+"[sync]\nmaxRemoveShare = 0.4\n[[sync.source]]\nname = \"files\"\nkind = \"dir\"\npath = %q\n[notify]\n", dir) +
		channelTOML("alerts", alerts, "") + "[notify.alerts]\nchannels = [\"alerts\"]\n"})
	waitSyncRuns(t, b, "files", 1)
	syncRun(t, b, false)
	for n, k := range keys {
		loginOK(t, b, k, n)
	}
	os.Remove(filepath.Join(dir, "ann.pub"))
	os.Remove(filepath.Join(dir, "ben.pub"))
	syncRun(t, b, true)
	alerts.waitFor(t, "would freeze 2 of the 3 active accounts")
	loginOK(t, b, keys["ann"], "ann")
	loginOK(t, b, keys["ben"], "ben")
}

// TestSyncDir: a directory of the same shape; only regular files count (a symbolic link to a
// file elsewhere is ignored).
func TestSyncDir(t *testing.T) {
	dir := t.TempDir()
	dave, davePub := testenv.NewKey(t, "ed25519", "dave")
	eve, evePub := testenv.NewKey(t, "ed25519", "eve")
	os.WriteFile(filepath.Join(dir, "dave.pub"), []byte(davePub+"\n"), 0o644)
	outside := filepath.Join(t.TempDir(), "eve.pub")
	os.WriteFile(outside, []byte(evePub+"\n"), 0o644)
	if err := os.Symlink(outside, filepath.Join(dir, "eve.pub")); err != nil {
		t.Fatal(err)
	}
	b := testenv.Start(t, testenv.Options{Config: fmt.Sprintf(noPenalty+"[sync]\nmaxRemoveShare = 1\n[[sync.source]]\nname = \"files\"\nkind = \"dir\"\npath = %q\n", dir)})
	waitSyncRuns(t, b, "files", 1)
	syncRun(t, b, false)
	loginOK(t, b, dave, "dave")
	loginRefused(t, b, eve, "eve")
	auditHas(t, b, "sync.create_account", `"account":"dave"`, "sha256:")
	// An unreadable file fails the run closed: nothing changes.
	os.WriteFile(filepath.Join(dir, "zed.pub"), []byte(davePub), 0o000)
	if os.Geteuid() != 0 { // root reads anything
		os.Remove(filepath.Join(dir, "dave.pub"))
		syncRun(t, b, true)
		loginOK(t, b, dave, "dave")
	}
}

// TestSyncHTTPS: one URL per account over TLS (the test server's certificate given as
// ca_file); a 404 is "no keys", the account is not created.
func TestSyncHTTPS(t *testing.T) {
	frank, frankPub := testenv.NewKey(t, "ed25519", "frank")
	var mode atomic.Value
	mode.Store("")
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/users/gina.keys" && mode.Load() == "redirect":
			http.Redirect(w, r, "http://127.0.0.1:1/gina.keys", http.StatusFound)
			return
		case r.URL.Path == "/users/gina.keys" && mode.Load() == "error":
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		if r.URL.Path == "/users/frank.keys" {
			w.Header().Set("ETag", `"v1"`)
			fmt.Fprintln(w, frankPub)
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	var pemBuf bytes.Buffer
	pem.Encode(&pemBuf, &pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	os.WriteFile(ca, pemBuf.Bytes(), 0o644)
	b := testenv.Start(t, testenv.Options{Config: fmt.Sprintf(noPenalty+"[[sync.source]]\nname = \"web\"\nkind = \"https\"\nurl = %q\naccounts = [\"frank\", \"gina\"]\nca_file = %q\n",
		srv.URL+"/users/{account}.keys", ca)})
	waitSyncRuns(t, b, "web", 1)
	res := syncRun(t, b, false)
	if !strings.Contains(strings.Join(res[0].Plan.Skipped, "\n"), "gina: no valid key") {
		t.Fatalf("skipped %q", res[0].Plan.Skipped)
	}
	loginOK(t, b, frank, "frank")
	auditHas(t, b, "sync.create_account", `"account":"frank"`, "etag:v1")
	if _, err := b.App.Store.GetAccount(context.Background(), "gina"); err == nil {
		t.Fatal("gina created from a 404")
	}
	// A redirect to plain http, or a server error, fails the run closed: frank keeps his key.
	for _, m := range []string{"redirect", "error"} {
		mode.Store(m)
		res := syncRun(t, b, true)
		if res[0].Plan.Verdict != keysync.RefusedFetch {
			t.Fatalf("%s: verdict %s", m, res[0].Plan.Verdict)
		}
		loginOK(t, b, frank, "frank")
	}
}

// TestSyncAttacks: what someone who can write to the bucket (or a broken uploader) tries.
func TestSyncAttacks(t *testing.T) {
	s3 := testenv.StartS3(t)
	alerts := newHook(t, "slack")
	bk := newBucket(t, s3, "bastion-keys")
	ivan, ivanPub := testenv.NewKey(t, "ed25519", "ivan")
	bk.put("keys/ivan.pub", ivanPub+"\n")
	b := testenv.Start(t, testenv.Options{Config: fmt.Sprintf(noPenalty+"[sync]\nmaxRemoveShare = 1\n[[sync.source]]\nname = \"s3\"\nkind = \"s3\"\nbucket = \"bastion-keys\"\n"+
		"prefix = \"keys/\"\nendpoint = %q\naccess_key = %q\nsecret_key = %q\n[notify]\n", s3.Endpoint, s3.Access, s3.Secret) +
		channelTOML("alerts", alerts, "") + "[notify.alerts]\nchannels = [\"alerts\"]\nkinds = [\"sync_refused\"]\n"})
	waitSyncRuns(t, b, "s3", 1)
	loginOK(t, b, ivan, "ivan")

	// 1. An object for the first admin (not managed by the source): left alone, the planted key
	// does not log in.
	evil, evilPub := testenv.NewKey(t, "ed25519", "evil")
	bk.put("keys/admin.pub", evilPub+"\n")
	bk.put("keys/Admin.pub", evilPub+"\n")
	// 2. Keys the bastion refuses: options, a weak RSA key, DSA; and an object in a sub-folder.
	weakKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	weakPub, _ := ssh.NewPublicKey(&weakKey.PublicKey)
	weak := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(weakPub))) + " weak"
	bk.put("keys/zoe.pub", "command=\"/bin/sh\" "+evilPub+"\n"+weak+"\nssh-dss AAAAB3NzaC1kc3MAAACBAP dsa\nno-touch-required "+evilPub+"\n")
	bk.put("keys/sub/mal.pub", evilPub+"\n")
	res := syncRun(t, b, false)
	sk := strings.Join(res[0].Plan.Skipped, "\n")
	for _, want := range []string{"admin: an account of this name exists and is not managed", "Admin: differs only in case from account admin", "zoe: line 1 skipped", "zoe: line 2 skipped",
		"zoe: line 3 skipped", "zoe: line 4 skipped", "zoe: no valid key: not created", "1024 bits"} {
		if !strings.Contains(sk, want) {
			t.Errorf("skipped lacks %q:\n%s", want, sk)
		}
	}
	loginRefused(t, b, evil, "admin")
	loginRefused(t, b, evil, "Admin")
	loginRefused(t, b, evil, "zoe")
	loginRefused(t, b, evil, "mal")
	if r := b.Admin("--osh", "info"); r.Exit != 0 {
		t.Fatalf("the admin lost its login: %d", r.Exit)
	}

	// 3. An oversized object fails the whole run closed: a new account in the same bucket is not
	// created, an alert is raised.
	jo, joPub := testenv.NewKey(t, "ed25519", "jo")
	bk.put("keys/jo.pub", joPub+"\n")
	bk.put("keys/big.pub", strings.Repeat("# padding\n", 30000))
	syncRun(t, b, true)
	alerts.waitFor(t, "larger than")
	loginRefused(t, b, jo, "jo")
	bk.remove("keys/big.pub")
	syncRun(t, b, false)
	loginOK(t, b, jo, "jo")

	// 4. An administrator freezes a synced account: the sync does not lift it.
	b.MustOK("--osh", "accountFreeze", "--account", "ivan", "--reason", "investigation")
	syncRun(t, b, false)
	if a := account(t, b, "ivan"); !a.Frozen || a.FrozenReason != "investigation" {
		t.Fatalf("the sync lifted an administrator's freeze: %+v", a)
	}
	if r := b.SSH(ivan, "ivan", "--osh", "info"); r.Exit == 0 {
		t.Fatal("a frozen account logged in")
	}
}

// TestSyncIngressKeysFrom: keys added by the key sync get ingressKeysFrom as keys added by a
// command do, from a directory and from a real S3 server; the real ssh client logs in from the
// allowed address and is refused from another one, a key's own from= included (overriding is
// not allowed).
func TestSyncIngressKeysFrom(t *testing.T) {
	s3 := testenv.StartS3(t)
	dir := t.TempDir()
	dina, dinaPub := testenv.NewKey(t, "ed25519", "dina")
	sam, samPub := testenv.NewKey(t, "ed25519", "sam")
	if err := os.WriteFile(filepath.Join(dir, "dina.pub"), []byte(`from="127.0.0.1,127.0.0.3" `+dinaPub+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	b := testenv.Start(t, testenv.Options{Config: fmt.Sprintf(noPenalty+`ingressKeysFrom = ["127.0.0.2"]
[sync]
interval = "1h"
maxRemoveShare = 1

[[sync.source]]
name = "files"
kind = "dir"
path = %q

[[sync.source]]
name = "s3"
kind = "s3"
bucket = "keys-from"
prefix = "pk/"
endpoint = %q
region = "us-east-1"
access_key = %q
secret_key = %q
`, dir, s3.Endpoint, s3.Access, s3.Secret)})
	waitSyncRuns(t, b, "s3", 1)
	bk := newBucket(t, s3, "keys-from")
	bk.put("pk/sam.pub", samPub+"\n")
	syncRun(t, b, false)

	for _, c := range []struct{ key, account string }{{dina, "dina"}, {sam, "sam"}} {
		r := sshFrom(t, b, "127.0.0.2", c.key, c.account, "--json-greppable", "--osh", "selfListIngressKeys")
		if r.Exit != 0 || !strings.Contains(r.Stdout, `"from_list":["127.0.0.2"]`) {
			t.Fatalf("%s from 127.0.0.2: exit %d\n%s%s", c.account, r.Exit, r.Stdout, r.Stderr)
		}
		for _, from := range []string{"127.0.0.1", "127.0.0.3"} {
			if r := sshFrom(t, b, from, c.key, c.account, "--osh", "info"); r.Exit != 255 {
				t.Fatalf("%s from %s with a synced key bound to 127.0.0.2: exit %d\n%s", c.account, from, r.Exit, r.Stdout)
			}
		}
	}
	auditHas(t, b, "sync.create_account", `"account":"sam"`, "s3://keys-from/pk/sam.pub")
}
