package connect

import (
	"context"
	"io"
	"sync"

	"gatehouse/internal/access"
	"gatehouse/internal/audit"
	"gatehouse/internal/transfer"
)

// sftpAudit follows a transfer relayed on a session's own streams (the plain path): each SFTP
// operation, or each file of a legacy scp, is an audit event, as on a jump (internal/transfer).
// A stream the audit cannot follow ends the relay before the packet goes on (fail closed).
type sftpAudit struct {
	mu     sync.Mutex
	p      transfer.Follower
	cancel context.CancelFunc
}

// transferAudit follows the relayed streams of a transfer on the plain path: the sftp subsystem
// (The Bastion's `--osh sftp`), or scp's server side (`scp -t`, `scp -f`, also from `--osh
// scp --scp-cmd`); nil for any other session.
func (c *Connector) transferAudit(ctx context.Context, base audit.Fields, cancel context.CancelFunc, subsystem, command string) *sftpAudit {
	event := func(prefix string) func(transfer.Event) {
		return func(ev transfer.Event) {
			f := ev.Fields()
			f.Account, f.IPFrom, f.User, f.HostTo, f.PortTo, f.UniqID = base.Account, base.IPFrom, base.User, base.HostTo, base.PortTo, base.UniqID
			if err := c.observe(ctx, prefix+ev.Op, f); err != nil {
				// Fail closed: a transfer the audit log cannot follow does not go on.
				c.Log.Error("cannot audit a file operation, ending the relay", "account", base.Account, "err", err)
				cancel()
			}
		}
	}
	switch p := access.TransferOf(command); {
	case subsystem == "sftp":
		return &sftpAudit{cancel: cancel, p: transfer.NewSFTP(event("sftp."))}
	case p == access.ProtoSCPUp || p == access.ProtoSCPDown:
		return &sftpAudit{cancel: cancel, p: transfer.NewSCP(p == access.ProtoSCPUp, transfer.SCPArg(command), event("scp."))}
	case p == access.ProtoRsync:
		// rsync's file list, read from a copy off the relay: it never stops the transfer.
		return &sftpAudit{cancel: cancel, p: transfer.NewRsync(command, event("rsync."))}
	}
	return nil
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
