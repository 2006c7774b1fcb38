// Package pgtest gives tests a fresh PostgreSQL database of their own, on the server named by
// $GATEHOUSE_TEST_POSTGRES (a postgres:// URL of a role that may CREATE DATABASE; scripts/test.sh
// starts PostgreSQL and sets it). In CI (CI=true) a missing variable fails the test: the
// PostgreSQL half of the suite must run there, never skip.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvVar names the server the tests use.
const EnvVar = "GATEHOUSE_TEST_POSTGRES"

// Shared returns the shared server's URL, failing (CI) or skipping (a developer machine) without one.
func Shared(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvVar)
	if base == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("$%s is not set: CI must run the PostgreSQL tests; scripts/test.sh starts PostgreSQL and sets it", EnvVar)
		}
		t.Skipf("$%s is not set (a postgres:// URL of a role that may create databases); scripts/test.sh sets it up", EnvVar)
	}
	return base
}

// Fresh creates an empty database for this test, dropped when the test ends, and returns its URL.
func Fresh(t testing.TB) string {
	t.Helper()
	base := Shared(t)
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("$%s must be a postgres:// URL", EnvVar)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "gatehouse_test_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to $%s: %v", EnvVar, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE DATABASE `+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	// A test database need not survive a crash: commits do not wait for the disk (the tests
	// run on loaded CI machines), which changes nothing in what a transaction sees.
	if _, err := conn.Exec(ctx, `ALTER DATABASE `+name+` SET synchronous_commit = off`); err != nil {
		t.Fatalf("configure test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Logf("drop test database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			t.Logf("drop test database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}

// Server is a PostgreSQL of a test's own (initdb in a temporary directory, pg_ctl on a free
// port), for the fault tests that stop and start it.
type Server struct {
	t       testing.TB
	bin     string
	dir     string
	port    int
	asUser  []string // runuser -u postgres -- when running as root (initdb refuses root)
	started bool
}

// binDir finds initdb and pg_ctl: $GATEHOUSE_TEST_PG_BIN, else the newest /usr/lib/postgresql/*/bin.
func binDir() string {
	if d := os.Getenv("GATEHOUSE_TEST_PG_BIN"); d != "" {
		return d
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(matches) == 0 {
		return ""
	}
	sort.Strings(matches) // good enough for one installed major version
	return filepath.Dir(matches[len(matches)-1])
}

// StartServer initialises and starts a PostgreSQL server of the test's own; it is stopped and
// removed when the test ends.
func StartServer(t testing.TB) *Server {
	t.Helper()
	bin := binDir()
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("no PostgreSQL binaries (initdb, pg_ctl): scripts/test.sh installs postgresql")
		}
		t.Skip("no PostgreSQL binaries (initdb, pg_ctl); set $GATEHOUSE_TEST_PG_BIN or install postgresql")
	}
	dir, err := os.MkdirTemp("", "gatehouse-pg-")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{t: t, bin: bin, dir: dir}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root, PostgreSQL must run as the postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		s.asUser = []string{"runuser", "-u", "postgres", "--"}
	}
	t.Cleanup(func() {
		if s.started {
			_ = s.run("pg_ctl", "stop", "-D", s.data(), "-m", "immediate", "-w")
		}
		os.RemoveAll(dir)
	})
	if err := s.run("initdb", "-D", s.data(), "-U", "gatehouse", "--auth=trust", "-E", "UTF8", "--no-sync"); err != nil {
		t.Fatalf("initdb: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.port = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	s.Start()
	return s
}

func (s *Server) data() string { return filepath.Join(s.dir, "data") }

func (s *Server) run(tool string, args ...string) error {
	argv := append(append([]string{}, s.asUser...), append([]string{filepath.Join(s.bin, tool)}, args...)...)
	cmd := exec.Command(argv[0], argv[1:]...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", tool, err, out)
	}
	return nil
}

// URL is the server's postgres:// URL (database postgres, trust authentication on loopback).
func (s *Server) URL() string {
	return fmt.Sprintf("postgres://gatehouse@127.0.0.1:%d/postgres?sslmode=disable", s.port)
}

// Start starts the server and waits until it accepts connections.
func (s *Server) Start() {
	s.t.Helper()
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off", s.port, s.dir)
	if err := s.run("pg_ctl", "start", "-D", s.data(), "-w", "-t", "60", "-l", filepath.Join(s.dir, "log"), "-o", opts); err != nil {
		log, _ := os.ReadFile(filepath.Join(s.dir, "log"))
		s.t.Fatalf("start PostgreSQL: %v\n%s", err, log)
	}
	s.started = true
}

// Stop stops the server at once (immediate mode: as if it died), closing every connection.
func (s *Server) Stop() {
	s.t.Helper()
	if err := s.run("pg_ctl", "stop", "-D", s.data(), "-m", "immediate", "-w"); err != nil {
		s.t.Fatalf("stop PostgreSQL: %v", err)
	}
	s.started = false
}
