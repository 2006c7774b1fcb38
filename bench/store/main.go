// Command store measures a login + `--osh info` round trip on gatehouse with each store: the
// embedded SQLite file and a PostgreSQL database, in the same run, logins alternating between
// the two servers so machine noise falls on both.
//
//	go run ./bench/store                       # PostgreSQL from $GATEHOUSE_TEST_POSTGRES (scripts/postgres.sh)
//	go run ./bench/store -n 200 -store postgres://user:pw@host/postgres
//
// The PostgreSQL URL names a role that may create databases: the benchmark creates one of its
// own and drops it at the end.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"gatehouse/bench/internal/benchserver"
	"gatehouse/bench/internal/stats"
)

func main() {
	n := flag.Int("n", 100, "timed logins against each server")
	warmup := flag.Int("warmup", 5, "untimed logins against each server first")
	dsn := flag.String("store", os.Getenv("GATEHOUSE_TEST_POSTGRES"), "postgres:// URL of a role that may create databases ($GATEHOUSE_TEST_POSTGRES)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := bench(ctx, *n, *warmup, *dsn, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "store:", err)
		os.Exit(1)
	}
}

func bench(ctx context.Context, n, warmup int, base string, w io.Writer) error {
	if base == "" {
		return fmt.Errorf("no PostgreSQL: give -store postgres://… or set $GATEHOUSE_TEST_POSTGRES (source scripts/postgres.sh)")
	}
	dsn, drop, err := benchserver.FreshPostgres(ctx, base)
	if err != nil {
		return err
	}
	defer drop()
	dir, err := os.MkdirTemp("", "gatehouse-bench-store-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	key := filepath.Join(dir, "client_ed25519")
	if err := benchserver.Run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bench", "-f", key); err != nil {
		return err
	}
	bin, err := benchserver.BuildGatehouse(dir)
	if err != nil {
		return err
	}
	start := func(name string, extra ...string) (*benchserver.Server, error) {
		d := filepath.Join(dir, name)
		data := filepath.Join(d, "data")
		if err := os.MkdirAll(data, 0o700); err != nil {
			return nil, err
		}
		port, err := benchserver.FreePort()
		if err != nil {
			return nil, err
		}
		argv := append([]string{bin, "serve", "--data-dir", data, "--listen", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
			"--admin-key", key + ".pub"}, extra...)
		return benchserver.Start(ctx, name, d, port, argv...)
	}
	lite, err := start("sqlite")
	if err != nil {
		return err
	}
	defer lite.Stop()
	pg, err := start("postgres", "--store", dsn, "--node", "bench")
	if err != nil {
		return err
	}
	defer pg.Stop()

	servers := []*benchserver.Server{lite, pg}
	for range warmup {
		for _, s := range servers {
			if _, err := login(ctx, s, key); err != nil {
				return fmt.Errorf("warm-up: %w", err)
			}
		}
	}
	times := make([][]float64, len(servers))
	for range n {
		for i, s := range servers {
			d, err := login(ctx, s, key)
			if err != nil {
				return err
			}
			times[i] = append(times[i], float64(d.Microseconds())/1000)
		}
	}
	fmt.Fprintf(w, "%s\n%d logins each, alternating (ssh … admin@127.0.0.1 -- --json-greppable --osh info, start to exit)\n\n", stats.Machine(), n)
	fmt.Fprintf(w, "| store | p50 | p99 | max |\n|---|---|---|---|\n")
	for i, name := range []string{"SQLite (data directory)", "PostgreSQL 127.0.0.1"} {
		fmt.Fprintf(w, "| %s | %.1f ms | %.1f ms | %.1f ms |\n", name, stats.Quantile(times[i], 0.5), stats.Quantile(times[i], 0.99), stats.Quantile(times[i], 1))
	}
	return nil
}

func login(ctx context.Context, s *benchserver.Server, key string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	host, port, _ := net.SplitHostPort(s.Addr())
	cmd := exec.CommandContext(ctx, "ssh", "-F", "/dev/null", "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
		"-o", "ControlMaster=no", "-o", "ControlPath=none", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
		"-o", "LogLevel=ERROR", "-o", "KexAlgorithms=curve25519-sha256", "-o", "HostKeyAlgorithms=ssh-ed25519",
		"-i", key, "-p", port, "admin@"+host, "--", "--json-greppable", "--osh", "info")
	t0 := time.Now()
	out, err := cmd.Output()
	d := time.Since(t0)
	if err != nil {
		return 0, fmt.Errorf("%s: ssh: %w", s.Name, err)
	}
	if !strings.Contains(string(out), `JSON_OUTPUT=`) || !strings.Contains(string(out), `"error_code":"OK"`) {
		return 0, fmt.Errorf("%s: --osh info did not answer OK: %s", s.Name, out)
	}
	return d, nil
}
