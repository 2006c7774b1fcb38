package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	dto "github.com/prometheus/client_model/go"

	"gatehouse/internal/app"
	"gatehouse/internal/archive"
	"gatehouse/internal/store"
	"gatehouse/internal/testenv"
)

func archiveTOML(s3 *testenv.S3Server, extra string) string {
	return fmt.Sprintf(`[archive]
bucket = "gh-archive"
prefix = "site1/"
endpoint = %q
region = "us-east-1"
access_key = %q
secret_key = %q
interval = "1s"
%s`, s3.Endpoint, s3.Access, s3.Secret, extra)
}

// eventually polls cond until it holds or 30 s pass (the shipper runs in the background).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for try := 0; !cond(); try++ {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Duration(min(try+1, 10)) * 20 * time.Millisecond)
	}
}

func objectSHA(cl *minio.Client, key string) string {
	obj, err := cl.GetObject(context.Background(), "gh-archive", key, minio.GetObjectOptions{})
	if err != nil {
		return ""
	}
	defer obj.Close()
	h := sha256.New()
	if _, err := io.Copy(h, obj); err != nil {
		return ""
	}
	return hex.EncodeToString(h.Sum(nil))
}

func gauge(t *testing.T, b *testenv.Bastion, name string) float64 {
	t.Helper()
	mfs, err := b.App.Metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			m := mf.GetMetric()[0]
			return gaugeValue(m)
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

func gaugeValue(m *dto.Metric) float64 {
	if m.GetGauge() != nil {
		return m.GetGauge().GetValue()
	}
	return m.GetCounter().GetValue()
}

// allShipped says whether every closed session of account has its recording in the bucket
// with the audited SHA-256.
func allShipped(b *testenv.Bastion, cl *archive.Client, account string, want int) bool {
	list, err := b.App.Store.ListSessions(context.Background(), store.SessionFilter{Account: account, Limit: 1000})
	if err != nil {
		return false
	}
	n := 0
	for _, s := range list {
		if s.Status != "closed" {
			continue
		}
		n++
		if objectSHA(cl.S3, cl.RecordingKey("n1", s.Recording)) != s.SHA256 || s.SHA256 == "" {
			return false
		}
	}
	return n >= want
}

// TestArchiveS3 drives the archive against a real S3 server (versitygw) with the real ssh
// client: recordings reach the bucket with their audited hash; with the server stopped sessions
// go on and the backlog grows; started again, the backlog drains and nothing is lost; a
// recording deleted from the node's disk still plays (from the bucket); every node's audit
// chain verifies from the bucket, and a tampered object is detected.
func TestArchiveS3(t *testing.T) {
	s3 := testenv.StartS3(t)
	newBucket(t, s3, "gh-archive")
	b := testenv.Start(t, testenv.Options{Node: "n1", Config: "auditCheckpointEvery = 5\n" + archiveTOML(s3, "")})
	cfg := b.App.Config().Archive
	cl, err := archive.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	aliceKey := b.CreateAccount("alice")
	for range 3 {
		if r := b.SSH(aliceKey, "alice", "--osh", "info"); r.Exit != 0 {
			t.Fatalf("info: %d %s", r.Exit, r.Stderr)
		}
	}
	eventually(t, "alice's 3 recordings in the bucket with their audited sha256", func() bool { return allShipped(b, cl, "alice", 3) })

	// The bucket goes down: sessions go on, the backlog grows.
	s3.Stop()
	for range 4 {
		if r := b.SSH(aliceKey, "alice", "--osh", "info"); r.Exit != 0 {
			t.Fatalf("info with the bucket down: %d %s", r.Exit, r.Stderr)
		}
	}
	eventually(t, "a backlog of recordings", func() bool {
		return gauge(t, b, "gatehouse_archive_backlog_files") >= 4 && gauge(t, b, "gatehouse_archive_backlog_bytes") > 0
	})
	// Back: the backlog drains, every recording is there.
	s3.Start()
	eventually(t, "the backlog to drain", func() bool { return allShipped(b, cl, "alice", 7) })
	eventually(t, "no recording left in the backlog", func() bool { return gauge(t, b, "gatehouse_archive_backlog_files") <= 1 })

	// A recording gone from the disk plays from the bucket.
	list, err := b.App.Store.ListSessions(context.Background(), store.SessionFilter{Account: "alice", Kind: "osh", Limit: 1})
	if err != nil || len(list) == 0 {
		t.Fatalf("sessions: %v %d", err, len(list))
	}
	if err := os.Remove(list[0].Recording); err != nil {
		t.Fatal(err)
	}
	if r := b.SSH(aliceKey, "alice", "--osh", "selfPlaySession", "--id", list[0].ID, "--speed", "100"); r.Exit != 0 || !strings.Contains(r.Stdout, "You are alice") {
		t.Fatalf("play from the bucket: %d %q %q", r.Exit, r.Stdout, r.Stderr)
	}
	// A recording replaced in the bucket is refused, not played.
	key := cl.RecordingKey("n1", list[0].Recording)
	fake := "not the recording"
	if _, err := cl.S3.PutObject(context.Background(), "gh-archive", key, strings.NewReader(fake), int64(len(fake)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if r := b.SSH(aliceKey, "alice", "--json-greppable", "--osh", "selfPlaySession", "--id", list[0].ID); r.Code() != "ERR_RECORDING_NOT_FOUND" || !strings.Contains(r.Stdout+r.Stderr, "not the audited") {
		t.Fatalf("a replaced recording played: %s %q %q", r.Code(), r.Stdout, r.Stderr)
	}

	// Stopped: the shutdown checkpoint is shipped; the chain verifies from the bucket.
	b.Stop()
	pub, err := app.ReadAuditPublicKey(b.DataDir + "/" + app.AuditKeyFile + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	reports, err := cl.VerifyBucket(context.Background(), pub, "")
	if err != nil || len(reports) != 1 || reports[0].Node != "n1" || reports[0].Err != nil || !reports[0].Report.OK() {
		t.Fatalf("verify from the bucket: %v %+v", err, reports)
	}
	if !strings.Contains(reports[0].Report.String(), "closed") {
		t.Fatalf("the chain in the bucket is not closed:\n%s", reports[0].Report.String())
	}
	// Tamper with one shipped audit object: detected.
	var auditKey string
	for obj := range cl.S3.ListObjects(context.Background(), "gh-archive", minio.ListObjectsOptions{Prefix: "site1/audit/n1/", Recursive: true}) {
		auditKey = obj.Key
		break
	}
	obj, err := cl.S3.GetObject(context.Background(), "gh-archive", auditKey, minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(obj)
	obj.Close()
	if err != nil || !strings.Contains(string(data), `"account":"alice"`) {
		t.Fatalf("audit object %s: %v", auditKey, err)
	}
	forged := strings.Replace(string(data), `"account":"alice"`, `"account":"alicf"`, 1)
	if _, err := cl.S3.PutObject(context.Background(), "gh-archive", auditKey, strings.NewReader(forged), int64(len(forged)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	reports, err = cl.VerifyBucket(context.Background(), pub, "")
	if err != nil || len(reports) != 1 || reports[0].Err == nil {
		t.Fatalf("a tampered audit object verifies: %v %+v", err, reports)
	}
	t.Logf("tampering detected: %v", reports[0].Err)
}

// TestArchiveDiskBudget: with the bucket unreachable and the backlog past max_backlog_bytes, a
// new session is refused with a message that says why (fail closed before the disk fills).
func TestArchiveDiskBudget(t *testing.T) {
	s3 := &testenv.S3Server{Endpoint: "http://127.0.0.1:1", Access: "a", Secret: "b"} // nothing listens
	b := testenv.Start(t, testenv.Options{Node: "n1", Config: archiveTOML(s3, "max_backlog_bytes = 1\n")})
	r := b.Admin("--osh", "info")
	if r.Exit == 0 || !strings.Contains(r.Stderr, "cannot keep more recordings on its disk until they are archived") {
		t.Fatalf("a session past the disk budget: %d %q %q", r.Exit, r.Stdout, r.Stderr)
	}
}

// TestArchiveRetention: with retention_days and a bucket created with object lock (versitygw
// supports it), shipped recordings cannot be deleted from the bucket; the audit chain, whose
// current file is replaced as it grows, still ships and verifies.
func TestArchiveRetention(t *testing.T) {
	s3 := testenv.StartS3(t)
	bk := newBucket(t, s3, "gh-scratch") // a client; the locked bucket is made below
	if err := bk.cl.MakeBucket(context.Background(), "gh-archive", minio.MakeBucketOptions{Region: "us-east-1", ObjectLocking: true}); err != nil {
		t.Fatal(err)
	}
	b := testenv.Start(t, testenv.Options{Node: "n1", Config: "auditCheckpointEvery = 5\n" + archiveTOML(s3, "retention_days = 1\n")})
	cl, err := archive.NewClient(b.App.Config().Archive)
	if err != nil {
		t.Fatal(err)
	}
	key := b.CreateAccount("alice")
	for range 2 {
		b.SSH(key, "alice", "--osh", "info")
	}
	eventually(t, "alice's recordings in the bucket", func() bool { return allShipped(b, cl, "alice", 2) })
	list, _ := b.App.Store.ListSessions(context.Background(), store.SessionFilter{Account: "alice", Limit: 1})
	rk := cl.RecordingKey("n1", list[0].Recording)
	if err := cl.S3.RemoveObject(context.Background(), "gh-archive", rk, minio.RemoveObjectOptions{}); err == nil || !strings.Contains(err.Error(), "object lock") {
		t.Fatalf("a retained recording was deleted from the bucket: %v", err)
	}
	b.Stop()
	pub, err := app.ReadAuditPublicKey(b.DataDir + "/" + app.AuditKeyFile + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	reports, err := cl.VerifyBucket(context.Background(), pub, "")
	if err != nil || len(reports) != 1 || reports[0].Err != nil || !reports[0].Report.Closed {
		t.Fatalf("verify from the locked bucket: %v %+v", err, reports)
	}
}

// TestArchiveAfterRestart: recordings made while the bucket is down wait on disk through a
// restart of the node (the queue is the disk plus the shipped list), and reach the bucket once
// both are back; the node's chain then verifies from the bucket.
func TestArchiveAfterRestart(t *testing.T) {
	s3 := testenv.StartS3(t)
	newBucket(t, s3, "gh-archive")
	conf := archiveTOML(s3, "")
	b := testenv.Start(t, testenv.Options{Node: "n1", Config: conf})
	cl, err := archive.NewClient(b.App.Config().Archive)
	if err != nil {
		t.Fatal(err)
	}
	key := b.CreateAccount("alice")
	s3.Stop()
	for range 3 {
		if r := b.SSH(key, "alice", "--osh", "info"); r.Exit != 0 {
			t.Fatalf("info with the bucket down: %d %s", r.Exit, r.Stderr)
		}
	}
	b.Stop() // its last shipping attempt fails: nothing shipped
	s3.Start()
	b2 := testenv.Start(t, testenv.Options{Node: "n1", DataDir: b.DataDir, Admin: b.AdminKey, Config: conf})
	eventually(t, "the recordings of the stopped run in the bucket", func() bool { return allShipped(b2, cl, "alice", 3) })
	b2.Stop()
	pub, err := app.ReadAuditPublicKey(b.DataDir + "/" + app.AuditKeyFile + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	reports, err := cl.VerifyBucket(context.Background(), pub, "n1")
	if err != nil || len(reports) != 1 || reports[0].Err != nil || !reports[0].Report.Closed {
		t.Fatalf("verify from the bucket after the restart: %v %+v", err, reports)
	}
}

// TestArchiveSlowBucket: a bucket that accepts connections and never answers delays no
// session; the recordings wait in the backlog.
func TestArchiveSlowBucket(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c) // read nothing, answer nothing
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	s3 := &testenv.S3Server{Endpoint: "http://" + ln.Addr().String(), Access: "a", Secret: "b"}
	b := testenv.Start(t, testenv.Options{Node: "n1", Config: archiveTOML(s3, "")})
	key := b.CreateAccount("alice")
	start := time.Now()
	for range 3 {
		if r := b.SSH(key, "alice", "--osh", "info"); r.Exit != 0 {
			t.Fatalf("info with a stalled bucket: %d %s", r.Exit, r.Stderr)
		}
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("3 sessions took %s with a stalled bucket", d)
	}
	eventually(t, "a backlog", func() bool { return gauge(t, b, "gatehouse_archive_backlog_files") >= 3 })
}
