package connect

import (
	"context"
	"io"
	"sync"

	"gatehouse/internal/transfer"
)

// sftpAudit follows an sftp subsystem relayed on a session's own streams (The Bastion's
// `--host H --osh sftp`): each operation is an audit event, as on a jump (internal/transfer).
// A stream the audit cannot follow ends the relay before the packet goes on (fail closed).
type sftpAudit struct {
	mu     sync.Mutex
	p      *transfer.SFTP
	cancel context.CancelFunc
}

func (c *Connector) sftpAudit(ctx context.Context, base map[string]any, cancel context.CancelFunc) *sftpAudit {
	return &sftpAudit{cancel: cancel, p: transfer.NewSFTP(func(ev transfer.Event) {
		f := ev.Fields()
		for _, k := range []string{"account", "ip_from", "user", "host_to", "port_to", "uniqid"} {
			f[k] = base[k]
		}
		c.observe(ctx, "sftp."+ev.Op, f)
	})}
}

func (a *sftpAudit) close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.p.Close()
}

type sftpAuditReader struct {
	a *sftpAudit
	r io.Reader
}

// reader audits what the client sends before it reaches the target.
func (a *sftpAudit) reader(r io.Reader) io.Reader { return &sftpAuditReader{a, r} }

func (r *sftpAuditReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		r.a.mu.Lock()
		perr := r.a.p.ClientBytes(p[:n])
		r.a.mu.Unlock()
		if perr != nil {
			r.a.cancel()
			return 0, perr
		}
	}
	return n, err
}

type sftpAuditWriter struct {
	a *sftpAudit
	w io.Writer
}

// writer audits the target's answers before the client gets them.
func (a *sftpAudit) writer(w io.Writer) io.Writer { return &sftpAuditWriter{a, w} }

func (w *sftpAuditWriter) Write(p []byte) (int, error) {
	w.a.mu.Lock()
	perr := w.a.p.ServerBytes(p)
	w.a.mu.Unlock()
	if perr != nil {
		w.a.cancel()
		return 0, perr
	}
	return w.w.Write(p)
}
