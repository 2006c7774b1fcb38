package testenv

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// VersitygwModule is the S3 server the tests run, pinned; scripts/test.sh installs it.
const VersitygwModule = "github.com/versity/versitygw/cmd/versitygw@v1.8.0"

// S3Server is a real S3 server (versitygw) serving a POSIX directory on a loopback port.
type S3Server struct {
	Endpoint       string // http://127.0.0.1:PORT
	Access, Secret string
	Dir            string // the served directory: one sub-directory per bucket

	t    testing.TB
	bin  string
	addr string
	stop func()
}

// versitygwPath finds the versitygw binary in PATH or in $(go env GOPATH)/bin.
func versitygwPath() string {
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
			gopath = strings.TrimSpace(string(out))
		}
	}
	for _, dir := range filepath.SplitList(gopath) {
		if p := filepath.Join(dir, "bin", "versitygw"); isExecutable(p) {
			return p
		}
	}
	return ""
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}

// StartS3 starts versitygw on a free loopback port for the test's lifetime. A missing binary
// fails the test (never skips it): run scripts/test.sh, which installs it.
func StartS3(t testing.TB) *S3Server {
	t.Helper()
	bin := versitygwPath()
	if bin == "" {
		t.Fatalf("versitygw (a real S3 server) is not installed: run scripts/test.sh, or go install %s", VersitygwModule)
	}
	s := &S3Server{Access: "gatehouse-test", Secret: "gatehouse-test-secret-key", Dir: t.TempDir(), t: t, bin: bin}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	ln.Close()
	s.Endpoint = "http://" + s.addr
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// Stop kills the server (the bucket is down); Start starts it again on the same port and
// directory. Both wait until done.
func (s *S3Server) Stop() {
	if s.stop != nil {
		s.stop()
		s.stop = nil
	}
}

// Start (re)starts a stopped server and waits until it accepts connections.
func (s *S3Server) Start() {
	t := s.t
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, s.bin, "--access", s.Access, "--secret", s.Secret, "--port", s.addr, "--quiet", "posix", s.Dir)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start versitygw: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s.stop = func() { cancel(); <-exited }
	// Ready when it accepts connections.
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-exited:
			t.Fatalf("versitygw exited: %s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("versitygw did not listen on %s within 20s: %s", s.addr, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
