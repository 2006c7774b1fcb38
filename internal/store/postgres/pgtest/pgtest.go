// Package pgtest gives tests a fresh PostgreSQL database of their own, on the server named by
// $GATEHOUSE_TEST_POSTGRES (a postgres:// URL of a role that may CREATE DATABASE; scripts/test.sh
// starts PostgreSQL and sets it). In CI (CI=true) a missing variable fails the test: the
// PostgreSQL half of the suite must run there, never skip.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvVar names the server the tests use.
const EnvVar = "GATEHOUSE_TEST_POSTGRES"

// Server returns the server URL, failing (CI) or skipping (a developer machine) without one.
func Server(t testing.TB) string {
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
	base := Server(t)
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
