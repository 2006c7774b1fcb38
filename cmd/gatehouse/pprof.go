package main

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"time"
)

// PprofEnv names the environment variable that, when set to a loopback address
// (127.0.0.1:6060), makes `gatehouse serve` answer Go's profiling endpoints (/debug/pprof/…) there.
// Off by default: profiles are for measuring (bench/transfer -cpuprofile), not for production,
// and a profile shows code paths and timings, so only a loopback address is accepted.
const PprofEnv = "GATEHOUSE_PPROF_LISTEN"

// startPprof serves the profiling endpoints on addr (nil: not asked). Its own mux: nothing of
// it reaches the web console's server.
func startPprof(addr string, log *slog.Logger) (func(), error) {
	if addr == "" {
		return func() {}, nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, errors.New(PprofEnv + " must be a loopback address such as 127.0.0.1:6060")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	log.Warn("profiling endpoints served ("+PprofEnv+")", "addr", ln.Addr().String())
	go func() { _ = srv.Serve(ln) }() // ends with Close below
	return func() { _ = srv.Close() }, nil
}

func pprofAddr() string { return os.Getenv(PprofEnv) }
