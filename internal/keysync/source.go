package keysync

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"gatehouse/internal/config"
)

// Source is where a sync reads the accounts it manages from. Fetch returns everything, or an
// error when any part could not be read: a partial answer would look like removed keys.
type Source interface {
	Fetch(ctx context.Context) (Snapshot, error)
}

// NewSource builds the source a [[sync.source]] table describes.
func NewSource(c config.SyncSource) (Source, error) {
	tr, err := transport(c.CAFile)
	if err != nil {
		return nil, err
	}
	switch c.Kind {
	case "s3":
		return newS3(c, tr)
	case "dir":
		return Dir{Path: c.Path}, nil
	case "https":
		return HTTPS{URL: c.URL, Accounts: c.Accounts, Client: httpClient(tr)}, nil
	}
	return nil, fmt.Errorf("sync source %s: unknown kind %q", c.Name, c.Kind)
}

// transport is an HTTP transport with bounded waits, trusting caFile's certificates when given.
func transport(caFile string) (*http.Transport, error) {
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
	}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s holds no PEM certificate", caFile)
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	return tr, nil
}

// readCapped reads r whole, or fails if it holds more than MaxObjectBytes: a key file cut
// short would drop keys without saying so.
func readCapped(r io.Reader, what string) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxObjectBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", what, err)
	}
	if len(data) > MaxObjectBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes", what, MaxObjectBytes)
	}
	return data, nil
}

// S3 reads PREFIX<account>.pub (and .groups) objects from a bucket.
type S3 struct {
	Client    *minio.Client
	Bucket    string
	Prefix    string
	transport *http.Transport
}

// CloseIdleConnections releases the connections kept after a fetch.
func (s *S3) CloseIdleConnections() {
	if s.transport != nil {
		s.transport.CloseIdleConnections()
	}
}

func newS3(c config.SyncSource, tr *http.Transport) (*S3, error) {
	endpoint, secure, lookup := "s3.amazonaws.com", true, minio.BucketLookupAuto
	if c.Region != "" && c.Endpoint == "" {
		endpoint = "s3." + c.Region + ".amazonaws.com"
	}
	if c.Endpoint != "" {
		u, err := url.Parse(c.Endpoint)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("sync source %s: endpoint %q is not a URL", c.Name, c.Endpoint)
		}
		// An S3-compatible server is addressed path-style: its name is rarely a wildcard DNS.
		endpoint, secure, lookup = u.Host, u.Scheme == "https", minio.BucketLookupPath
	}
	var creds *credentials.Credentials
	if ak, sk := c.Credentials(); ak != "" {
		creds = credentials.NewStaticV4(ak, sk, "")
	} else {
		creds = credentials.NewChainCredentials([]credentials.Provider{
			&credentials.EnvAWS{}, &credentials.FileAWSCredentials{}, &credentials.IAM{},
		})
	}
	cl, err := minio.New(endpoint, &minio.Options{Creds: creds, Secure: secure, Region: c.Region, BucketLookup: lookup, Transport: tr})
	if err != nil {
		return nil, fmt.Errorf("sync source %s: %w", c.Name, err)
	}
	return &S3{Client: cl, Bucket: c.Bucket, Prefix: c.Prefix, transport: tr}, nil
}

// Fetch lists the prefix and reads every object that names an account.
func (s *S3) Fetch(ctx context.Context) (Snapshot, error) {
	b := newBuilder()
	n := 0
	for obj := range s.Client.ListObjects(ctx, s.Bucket, minio.ListObjectsOptions{Prefix: s.Prefix}) {
		if obj.Err != nil {
			return nil, fmt.Errorf("list s3://%s/%s: %w", s.Bucket, s.Prefix, obj.Err)
		}
		account, suffix, ok := AccountOf(s.Prefix, obj.Key)
		if !ok {
			continue
		}
		if n++; n > 2*MaxAccounts {
			return nil, fmt.Errorf("s3://%s/%s holds more than %d objects", s.Bucket, s.Prefix, 2*MaxAccounts)
		}
		if obj.Size > MaxObjectBytes {
			return nil, fmt.Errorf("s3://%s/%s is larger than %d bytes", s.Bucket, obj.Key, MaxObjectBytes)
		}
		data, etag, err := s.get(ctx, obj.Key)
		if err != nil {
			return nil, err
		}
		b.add(account, suffix, "s3://"+s.Bucket+"/"+obj.Key, "etag:"+etag, data)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return b.done(), nil
}

func (s *S3) get(ctx context.Context, key string) ([]byte, string, error) {
	o, err := s.Client.GetObject(ctx, s.Bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, "", fmt.Errorf("get s3://%s/%s: %w", s.Bucket, key, err)
	}
	defer func() { _ = o.Close() }() // read only
	data, err := readCapped(o, "s3://"+s.Bucket+"/"+key)
	if err != nil {
		return nil, "", err
	}
	st, err := o.Stat()
	if err != nil {
		return nil, "", fmt.Errorf("stat s3://%s/%s: %w", s.Bucket, key, err)
	}
	return data, strings.Trim(st.ETag, `"`), nil
}

// Dir reads <account>.pub (and .groups) files from a directory.
type Dir struct {
	Path string
}

// Fetch reads every file that names an account. Only regular files count: a symbolic link
// could point the bastion at a file nobody meant to publish.
func (d Dir) Fetch(ctx context.Context) (Snapshot, error) {
	entries, err := os.ReadDir(d.Path)
	if err != nil {
		return nil, fmt.Errorf("read directory %s: %w", d.Path, err)
	}
	b := newBuilder()
	n := 0
	for _, e := range entries {
		account, suffix, ok := AccountOf("", e.Name())
		if !ok || !e.Type().IsRegular() {
			continue
		}
		if n++; n > 2*MaxAccounts {
			return nil, fmt.Errorf("%s holds more than %d files", d.Path, 2*MaxAccounts)
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		p := filepath.Join(d.Path, e.Name())
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		data, err := readCapped(f, p)
		_ = f.Close() // read only
		if err != nil {
			return nil, err
		}
		b.add(account, suffix, p, SHA256Version(data), data)
	}
	return b.done(), nil
}

// HTTPS fetches URL (with {account} replaced) for each account; a 404 means the account has no
// keys (it is frozen if managed), any other failure fails the whole fetch.
type HTTPS struct {
	URL      string
	Accounts []string
	Client   *http.Client
}

func httpClient(tr *http.Transport) *http.Client {
	return &http.Client{Transport: tr, Timeout: 30 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 3 {
				return errors.New("too many redirects")
			}
			if req.URL.Scheme != "https" {
				return fmt.Errorf("redirect to %s refused: not https", req.URL.Redacted())
			}
			return nil
		}}
}

// CloseIdleConnections releases the connections kept after a fetch.
func (h HTTPS) CloseIdleConnections() { h.Client.CloseIdleConnections() }

// Fetch fetches every account's keys.
func (h HTTPS) Fetch(ctx context.Context) (Snapshot, error) {
	b := newBuilder()
	for _, account := range h.Accounts {
		u := strings.ReplaceAll(h.URL, "{account}", url.PathEscape(account))
		data, version, found, err := h.get(ctx, u)
		if err != nil {
			return nil, err
		}
		if !found {
			b.snap[account] = Entry{Object: redact(u)}
			continue
		}
		b.add(account, KeysSuffix, redact(u), version, data)
	}
	return b.done(), nil
}

// redact hides a password in a URL (https://user:secret@host/…), which would otherwise reach
// logs, alerts and the audit log.
func redact(u string) string {
	if p, err := url.Parse(u); err == nil {
		return p.Redacted()
	}
	return "(unparsable URL)"
}

func (h HTTPS) get(ctx context.Context, u string) (data []byte, version string, found bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, "", false, fmt.Errorf("get %s: bad URL", redact(u))
	}
	resp, err := h.Client.Do(req)
	if err != nil {
		// *url.Error carries the URL in clear: keep only its cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, "", false, fmt.Errorf("get %s: %w", redact(u), err)
	}
	defer func() { _ = resp.Body.Close() }() // read only
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return nil, "", false, nil
	default:
		return nil, "", false, fmt.Errorf("get %s: %s", redact(u), resp.Status)
	}
	if data, err = readCapped(resp.Body, redact(u)); err != nil {
		return nil, "", false, err
	}
	if etag := strings.Trim(resp.Header.Get("ETag"), `"`); etag != "" {
		return data, "etag:" + etag + " " + SHA256Version(data), true, nil
	}
	return data, SHA256Version(data), true, nil
}
