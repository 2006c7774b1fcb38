package web

import "github.com/prometheus/client_golang/prometheus"

// TransferEvents registers gatehouse_transfer_events_total and returns the function that counts
// one event: the jumps and transfers' audit events by type (jump.open, sftp.close, sftp.refused,
// transfer.denied …, a small fixed set).
func (m *Metrics) TransferEvents() func(event string) {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gatehouse_transfer_events_total",
		Help: "ProxyJump and file transfer audit events, by type."}, []string{"event"})
	m.Registry.MustRegister(c)
	return func(event string) { c.WithLabelValues(event).Inc() }
}
