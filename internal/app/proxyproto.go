package app

import (
	"github.com/prometheus/client_golang/prometheus"

	"gatehouse/internal/ingress"
)

// registerProxyMetrics exports the PROXY protocol's outcomes on the SSH listener, one series per
// result (ingress.ProxyReasons): accepted (a client address taken from a trusted balancer),
// health_check, and the reasons a connection was refused (missing, malformed, timeout,
// incomplete, not_tcp, no_client_address, untrusted_header).
func (a *App) registerProxyMetrics(st *ingress.Stats) {
	for _, r := range ingress.ProxyReasons {
		a.Metrics.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "gatehouse_proxy_protocol_connections_total",
			Help:        "Connections on the SSH port by PROXY protocol outcome (proxyProtocolFrom): accepted, health_check, or the reason they were refused.",
			ConstLabels: prometheus.Labels{"result": r},
		}, func() float64 { return float64(st.Proxy.Load(r)) }))
	}
}
