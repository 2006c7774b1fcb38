package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
