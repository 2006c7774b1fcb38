package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"gatehouse/internal/app"
	"gatehouse/internal/archive"
	"gatehouse/internal/testenv"
)

// TestAuditVerifyBucket: `gatehouse audit verify --bucket -` (the [archive] of the data
// directory's configuration) passes on the chains two nodes shipped, names each node, and fails
// once one shipped audit object is edited.
func TestAuditVerifyBucket(t *testing.T) {
	s3 := testenv.StartS3(t)
	conf := fmt.Sprintf("[archive]\nbucket = \"gh-audit\"\nendpoint = %q\nregion = \"us-east-1\"\naccess_key = %q\nsecret_key = %q\n", s3.Endpoint, s3.Access, s3.Secret)
	b1 := testenv.Start(t, testenv.Options{Node: "n1", Config: conf})
	cl, err := archive.NewClient(b1.App.Config().Archive)
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.S3.MakeBucket(context.Background(), "gh-audit", minio.MakeBucketOptions{Region: "us-east-1"}); err != nil {
		t.Fatal(err)
	}
	// The second node shares the first one's audit key (copied, as docs/cluster.md says).
	b1.Admin("--osh", "info")
	b1.Stop()
	dir2 := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(dir2, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{app.AuditKeyFile, app.AuditKeyFile + ".pub"} {
		data, err := os.ReadFile(filepath.Join(b1.DataDir, f))
		if err != nil || os.WriteFile(filepath.Join(dir2, f), data, 0o600) != nil {
			t.Fatal(err)
		}
	}
	b2 := testenv.Start(t, testenv.Options{Node: "n2", DataDir: dir2, Config: conf})
	b2.Admin("--osh", "info")
	b2.Stop()

	verify := func() (int, string) {
		var out, errb bytes.Buffer
		code := run([]string{"audit", "verify", "--data-dir", b1.DataDir, "--bucket", "-"}, &out, &errb)
		return code, out.String() + errb.String()
	}
	code, out := verify()
	if code != 0 || !strings.Contains(out, "node n1:") || !strings.Contains(out, "node n2:") {
		t.Fatalf("verify --bucket: %d\n%s", code, out)
	}
	// A recording read straight from the bucket.
	var recKey string
	for obj := range cl.S3.ListObjects(context.Background(), "gh-audit", minio.ListObjectsOptions{Prefix: "recordings/n1/admin/", Recursive: true}) {
		recKey = obj.Key
	}
	var rout, rerr bytes.Buffer
	if code := run([]string{"replay", "--data-dir", b1.DataDir, "--text", "s3://gh-audit/" + recKey}, &rout, &rerr); code != 0 || !strings.Contains(rout.String(), "You are admin") || !strings.Contains(rerr.String(), "sha256 ") {
		t.Fatalf("replay s3://gh-audit/%s: %d\n%s\n%s", recKey, code, rout.String(), rerr.String())
	}
	// n1's chain stored as n3's: it verifies as a chain, but names its node.
	src := minio.CopySrcOptions{Bucket: "gh-audit", Object: "audit/n1/audit-00000000000000000001.jsonl"}
	if _, err := cl.S3.CopyObject(context.Background(), minio.CopyDestOptions{Bucket: "gh-audit", Object: "audit/n3/audit-00000000000000000001.jsonl"}, src); err != nil {
		t.Fatal(err)
	}
	if code, out := verify(); code == 0 || !strings.Contains(out, `written by node "n1" but is stored as node "n3"`) {
		t.Fatalf("a chain moved to another node verifies: %d\n%s", code, out)
	}
	if err := cl.S3.RemoveObject(context.Background(), "gh-audit", "audit/n3/audit-00000000000000000001.jsonl", minio.RemoveObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	key := "audit/n2/audit-00000000000000000001.jsonl"
	obj, err := cl.S3.GetObject(context.Background(), "gh-audit", key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(obj)
	obj.Close()
	if err != nil || !strings.Contains(string(data), `"type":"audit.start"`) {
		t.Fatalf("%s: %v %.200s", key, err, data)
	}
	forged := strings.Replace(string(data), `"type":"audit.start"`, `"type":"audit.stArt"`, 1)
	if _, err := cl.S3.PutObject(context.Background(), "gh-audit", key, strings.NewReader(forged), int64(len(forged)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if code, out := verify(); code == 0 || !strings.Contains(out, "node n2: NOT intact") || !strings.Contains(out, "s3://gh-audit/audit/n2/") {
		t.Fatalf("a tampered chain verifies: %d\n%s", code, out)
	}
}

// TestArchiveKill9: sessions recorded while the bucket is down, then `kill -9` of the node:
// after its restart (bucket back) every recording of the killed run reaches the bucket with
// its hash, and the node's chain verifies from the bucket.
func TestArchiveKill9(t *testing.T) {
	bin := buildBinary(t)
	s3 := testenv.StartS3(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf("node = \"k1\"\n[archive]\nbucket = \"gh-kill\"\nendpoint = %q\nregion = \"us-east-1\"\naccess_key = %q\nsecret_key = %q\ninterval = \"1s\"\n", s3.Endpoint, s3.Access, s3.Secret)
	if err := os.WriteFile(filepath.Join(dataDir, "gatehouse.toml"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := app.LoadConfig(dataDir, "")
	if err != nil {
		t.Fatal(err)
	}
	cl, err := archive.NewClient(cfg.Archive)
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.S3.MakeBucket(context.Background(), "gh-kill", minio.MakeBucketOptions{Region: "us-east-1"}); err != nil {
		t.Fatal(err)
	}
	adminKey, _ := testenv.NewKey(t, "ed25519", "admin")
	s3.Stop()
	s := startServer(t, bin, dataDir, adminKey+".pub")
	for range 2 {
		if m := sshJSON(t, s.addr, adminKey, "admin", "--osh", "info"); m["error_code"] != "OK" {
			t.Fatalf("info with the bucket down: %v", m)
		}
	}
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	s.cmd.Wait()
	killed, _ := filepath.Glob(filepath.Join(dataDir, "recordings", "admin", "*"))
	if len(killed) < 2 {
		t.Fatalf("recordings of the killed run: %v", killed)
	}
	s3.Start()
	s2 := startServer(t, bin, dataDir, adminKey+".pub")
	deadline := time.Now().Add(30 * time.Second)
	for _, p := range killed {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		want := sha256.Sum256(data)
		for {
			if got, ok := objectSum(cl, cl.RecordingKey("k1", p)); ok && got == want {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s never reached the bucket intact", p)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	s2.cmd.Process.Signal(syscall.SIGTERM)
	s2.cmd.Wait()
	var out, errb bytes.Buffer
	if code := run([]string{"audit", "verify", "--data-dir", dataDir, "--bucket", "-", "--node", "k1"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "node k1:") {
		t.Fatalf("verify --bucket after kill -9: %d\n%s%s", code, out.String(), errb.String())
	}
}

func objectSum(cl *archive.Client, key string) ([32]byte, bool) {
	obj, err := cl.S3.GetObject(context.Background(), cl.Bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return [32]byte{}, false
	}
	defer obj.Close()
	data, err := io.ReadAll(obj)
	if err != nil {
		return [32]byte{}, false
	}
	return sha256.Sum256(data), true
}
