// Package web is gatehouse's HTTP side: Prometheus metrics at /metrics and a health check at
// /healthz, on a listener separate from SSH (metricsListen). Metrics are named by what they count.
package web

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the counters gatehouse keeps. Create them with NewMetrics.
type Metrics struct {
	Registry        *prometheus.Registry
	Auth            *prometheus.CounterVec // method, result
	MFA             *prometheus.CounterVec // factor, result
	Commands        *prometheus.CounterVec // result: ok, refused, error
	AccessDenied    prometheus.Counter
	EgressDial      prometheus.Histogram
	RelayedBytes    *prometheus.CounterVec // direction: in (to the target), out (to the user)
	RecordingBytes  prometheus.Counter
	RecordingErrors prometheus.Counter
}

// NewMetrics registers every metric in a fresh registry (no globals).
func NewMetrics() *Metrics {
	r := prometheus.NewRegistry()
	m := &Metrics{
		Registry:        r,
		Auth:            prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gatehouse_authentications_total", Help: "Authentication attempts by method and result."}, []string{"method", "result"}),
		MFA:             prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gatehouse_mfa_total", Help: "Second-factor prompts and results by factor."}, []string{"factor", "result"}),
		Commands:        prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gatehouse_osh_commands_total", Help: "--osh commands run, by result."}, []string{"result"}),
		AccessDenied:    prometheus.NewCounter(prometheus.CounterOpts{Name: "gatehouse_access_denied_total", Help: "Connections to targets refused."}),
		EgressDial:      prometheus.NewHistogram(prometheus.HistogramOpts{Name: "gatehouse_egress_dial_seconds", Help: "Time to connect and authenticate to a target.", Buckets: prometheus.ExponentialBuckets(0.005, 2, 12)}),
		RelayedBytes:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gatehouse_relayed_bytes_total", Help: "Bytes relayed between users and targets."}, []string{"direction"}),
		RecordingBytes:  prometheus.NewCounter(prometheus.CounterOpts{Name: "gatehouse_recording_bytes_total", Help: "Terminal bytes written to recordings."}),
		RecordingErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "gatehouse_recording_errors_total", Help: "Recordings that could not be completed."}),
	}
	r.MustRegister(m.Auth, m.MFA, m.Commands, m.AccessDenied, m.EgressDial,
		m.RelayedBytes, m.RecordingBytes, m.RecordingErrors, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// RegisterAudit exports the audit log's health: events it could not record (each refused or
// reported) and whether it accepts events now (1) or not (0), read at each scrape.
func (m *Metrics) RegisterAudit(failures, healthy func() float64) {
	m.Registry.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "gatehouse_audit_write_failures_total", Help: "Audit events that could not be written to the audit log."}, failures),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gatehouse_audit_healthy", Help: "1 when the audit log accepts events, 0 while writing it fails (sessions are refused)."}, healthy),
	)
}

// ServerStats are the SSH server's own counters, read when /metrics is scraped.
type ServerStats struct {
	Accepted, Dropped, AuthenticatedConnections, SessionsStarted, ActiveSessions func() float64
	// Optional (nil: not exported): connections ended by a panic, accept errors, and
	// connections refused by the per-source limits (perSourceMaxStartups, penalties).
	Panics, AcceptErrors, PerSourceRefused, PenaltyRefused func() float64
}

// RegisterServer exports the SSH server's counters.
func (m *Metrics) RegisterServer(s ServerStats) {
	m.Registry.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "gatehouse_connections_accepted_total", Help: "TCP connections accepted on the SSH port."}, s.Accepted),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "gatehouse_connections_dropped_total", Help: "Unauthenticated connections dropped by maxStartups."}, s.Dropped),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gatehouse_connections_active", Help: "Authenticated connections open now."}, s.AuthenticatedConnections),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "gatehouse_sessions_started_total", Help: "Session channels started."}, s.SessionsStarted),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gatehouse_sessions_active", Help: "Session channels open now."}, s.ActiveSessions),
	)
	for _, c := range []struct {
		name, help string
		f          func() float64
	}{
		{"gatehouse_session_panics_total", "Connections ended by a panic in their handling (the others went on).", s.Panics},
		{"gatehouse_accept_errors_total", "Errors accepting a connection on the SSH port (e.g. out of file descriptors); the server backs off and goes on.", s.AcceptErrors},
		{"gatehouse_connections_refused_per_source_total", "Unauthenticated connections refused by perSourceMaxStartups.", s.PerSourceRefused},
		{"gatehouse_connections_refused_penalty_total", "Connections refused because their source is penalized for failed authentications.", s.PenaltyRefused},
	} {
		if c.f != nil {
			m.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: c.name, Help: c.help}, c.f))
		}
	}
}

// Handler serves /metrics and /healthz; healthy reports whether the bastion can serve.
func Handler(m *Metrics, healthy func(ctx context.Context) error) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := healthy(ctx); err != nil {
			http.Error(w, "unhealthy: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	return mux
}

// Serve runs the HTTP server on ln until ctx ends.
func Serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	// IdleTimeout set apart from ReadTimeout (its default), as in notifywire.
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second,
		IdleTimeout: 2 * time.Minute}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// AlertChannel are one alert channel's counters (internal/notify's alert queue).
type AlertChannel struct {
	Name                            string
	Enqueued, Sent, Failed, Dropped uint64
	Queued                          int
}

// RegisterAlerts exports the alert queues' counters, read at each scrape: alerts by channel and
// outcome, what waits in each queue, and events dropped before reaching a queue.
func (m *Metrics) RegisterAlerts(stats func() (channels []AlertChannel, eventsDropped uint64)) {
	m.Registry.MustRegister(alertCollector{stats})
}

var (
	alertsDesc       = prometheus.NewDesc("gatehouse_alerts_total", "Alerts by channel and outcome (enqueued, sent, failed, dropped).", []string{"channel", "result"}, nil)
	alertsQueuedDesc = prometheus.NewDesc("gatehouse_alerts_queued", "Alerts waiting in each channel's queue.", []string{"channel"}, nil)
	alertDropsDesc   = prometheus.NewDesc("gatehouse_alert_events_dropped_total", "Events dropped before becoming alerts (event queue full).", nil, nil)
)

type alertCollector struct {
	stats func() ([]AlertChannel, uint64)
}

func (c alertCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- alertsDesc
	ch <- alertsQueuedDesc
	ch <- alertDropsDesc
}

func (c alertCollector) Collect(ch chan<- prometheus.Metric) {
	channels, dropped := c.stats()
	for _, a := range channels {
		for _, v := range []struct {
			result string
			n      uint64
		}{{"enqueued", a.Enqueued}, {"sent", a.Sent}, {"failed", a.Failed}, {"dropped", a.Dropped}} {
			ch <- prometheus.MustNewConstMetric(alertsDesc, prometheus.CounterValue, float64(v.n), a.Name, v.result)
		}
		ch <- prometheus.MustNewConstMetric(alertsQueuedDesc, prometheus.GaugeValue, float64(a.Queued), a.Name)
	}
	ch <- prometheus.MustNewConstMetric(alertDropsDesc, prometheus.CounterValue, float64(dropped))
}
