package main

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
)

// TestPprofListen: off unless asked; only a loopback address; when on, the profiles answer.
func TestPprofListen(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{"", true},
		{"0.0.0.0:0", false},
		{"[::]:0", false},
		{"192.0.2.1:6060", false},
		{"localhost:6060", false}, // a name could resolve anywhere
		{"6060", false},
		{"127.0.0.1:0", true},
	} {
		stop, err := startPprof(tc.addr, log)
		if (err == nil) != tc.ok {
			t.Errorf("%q: err %v, want ok %v", tc.addr, err, tc.ok)
		}
		if err == nil {
			stop()
		}
	}
	// On: the index answers on the address.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	stop, err := startPprof(addr, log)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	resp, err := http.Get("http://" + addr + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %s", resp.Status)
	}
}
