package archive

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/minio/minio-go/v7"

	"gatehouse/internal/audit"
)

// NodeReport is the verification of one node's audit chain, as shipped to the bucket.
type NodeReport struct {
	Node   string
	Report audit.Report
	Err    error // the chain is broken (or could not be read)
}

// VerifyBucket checks every node's audit chain found under PREFIX/audit/ (or only node's, when
// given): each is downloaded to a temporary directory and verified as `gatehouse audit verify`
// does a local log, with pub. A bucket with no chain is an error: there is nothing to trust.
func (c *Client) VerifyBucket(ctx context.Context, pub ed25519.PublicKey, node string) ([]NodeReport, error) {
	root := c.Prefix + "audit/"
	byNode := map[string][]string{}
	for obj := range c.S3.ListObjects(ctx, c.Bucket, minio.ListObjectsOptions{Prefix: root, Recursive: true}) {
		if obj.Err != nil {
			return nil, fmt.Errorf("list s3://%s/%s: %w", c.Bucket, root, obj.Err)
		}
		n, name, ok := strings.Cut(strings.TrimPrefix(obj.Key, root), "/")
		if !ok || strings.Contains(name, "/") || (node != "" && n != node) {
			continue
		}
		byNode[n] = append(byNode[n], obj.Key)
	}
	if len(byNode) == 0 {
		return nil, fmt.Errorf("no audit log under s3://%s/%s", c.Bucket, root)
	}
	nodes := make([]string, 0, len(byNode))
	for n := range byNode {
		nodes = append(nodes, n)
	}
	slices.Sort(nodes)
	var out []NodeReport
	for _, n := range nodes {
		out = append(out, c.verifyNode(ctx, pub, n, byNode[n]))
	}
	return out, nil
}

func (c *Client) verifyNode(ctx context.Context, pub ed25519.PublicKey, node string, keys []string) NodeReport {
	r := NodeReport{Node: node}
	dir, err := os.MkdirTemp("", "gatehouse-audit-")
	if err != nil {
		r.Err = err
		return r
	}
	defer func() { _ = os.RemoveAll(dir) }() // a temporary copy: what is left is only disk space
	for _, k := range keys {
		if r.Err = c.fetchTo(ctx, k, filepath.Join(dir, filepath.Base(k))); r.Err != nil {
			return r
		}
	}
	files, err := audit.Files(dir)
	if err != nil || len(files) == 0 {
		r.Err = fmt.Errorf("node %s: no audit log file (audit-<seq>.jsonl) in the bucket: %v", node, err)
		return r
	}
	r.Report, r.Err = audit.Verify(files, pub, audit.VerifyOptions{})
	if r.Err == nil {
		r.Err = checkNode(files, node)
	}
	if r.Err != nil {
		// Name the objects, not the temporary copies.
		r.Err = errors.New(strings.ReplaceAll(r.Err.Error(), dir+"/", "s3://"+c.Bucket+"/"+c.Prefix+"audit/"+node+"/"))
	}
	return r
}

func (c *Client) fetchTo(ctx context.Context, key, dst string) error {
	obj, err := c.S3.GetObject(ctx, c.Bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return fmt.Errorf("read s3://%s/%s: %w", c.Bucket, key, err)
	}
	defer func() { _ = obj.Close() }() // read only
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, obj); err != nil {
		_ = f.Close() // the read error is the one to report
		return fmt.Errorf("read s3://%s/%s: %w", c.Bucket, key, err)
	}
	return f.Close()
}

// checkNode refuses a chain whose audit.start events name another node than the one it is
// stored under: a node's chain copied over another's would otherwise verify (same key).
func checkNode(files []string, node string) error {
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return err
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(make([]byte, 64<<10), 2<<20)
		for line := 1; sc.Scan(); line++ {
			if !bytes.Contains(sc.Bytes(), []byte(`"audit.start"`)) {
				continue
			}
			var rec struct {
				Type   string `json:"type"`
				Fields struct {
					Extra map[string]string `json:"extra"`
				} `json:"fields"`
			}
			if json.Unmarshal(sc.Bytes(), &rec) != nil || rec.Type != audit.TypeAuditStart {
				continue
			}
			if n := rec.Fields.Extra["node"]; n != "" && n != node {
				_ = fh.Close() // read only
				return fmt.Errorf("%s line %d: this chain was written by node %q but is stored as node %q's", f, line, n, node)
			}
		}
		_ = fh.Close() // read only; the scanner error is checked below
		if err := sc.Err(); err != nil {
			return err
		}
	}
	return nil
}
