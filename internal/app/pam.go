package app

// The servers' side of the second factors (docs/pam.md): the key that signs the tickets handed to
// targets, and the HTTPS endpoint the targets' pam_gatehouse.so asks.

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"gatehouse/internal/config"
	"gatehouse/internal/osh"
	"gatehouse/internal/pamverify"
	"gatehouse/internal/session"
	"gatehouse/internal/store"
	"gatehouse/internal/ticket"
)

// Files in the data directory.
const (
	pamTicketKeyFile = "pam_ticket_ed25519"
	pamTLSCertFile   = "pam_tls.crt"
	pamTLSKeyFile    = "pam_tls.key"
)

// openPAM loads (or makes) the ticket signing key and lets the connector hand tickets out. The
// key is dedicated: a ticket key that leaks signs identities, not audit checkpoints.
func (a *App) openPAM() error {
	key, err := loadOrCreateTicketKey(filepath.Join(a.DataDir, pamTicketKeyFile))
	if err != nil {
		return fmt.Errorf("ticket key: %w", err)
	}
	a.pamTicketKey = key
	a.Connector.Ticket = a.issueTicket
	return nil
}

func loadOrCreateTicketKey(path string) (ed25519.PrivateKey, error) {
	if data, err := os.ReadFile(path); err == nil {
		block, _ := pem.Decode(data)
		if block == nil {
			return nil, fmt.Errorf("%s: not PEM", path)
		}
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		ek, ok := k.(ed25519.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("%s: not an ed25519 key", path)
		}
		return ek, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	if err := writeNew(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})); err != nil {
		return nil, err
	}
	return priv, nil
}

// writeNew writes a 0600 file that must not exist yet.
func writeNew(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close() // the write error is the one to report
		return err
	}
	return f.Close()
}

// issueTicket makes the GATEHOUSE_TICKET of a session about to be relayed ("" when [pam] is
// off). An error is logged and the session goes on without a ticket: the target then refuses
// what needs one (fail closed on the target's side).
func (a *App) issueTicket(s *session.Session, o session.Outcome) string {
	cfg := a.Config().PAM
	if cfg.Listen == "" || a.pamTicketKey == nil {
		return ""
	}
	t, err := ticket.New(time.Now(), cfg.TicketLifetime(), s.Account.ID, s.Account.Name, s.ID, o.Host, o.IPTo, o.PortTo, o.User)
	if err == nil {
		var enc string
		if enc, err = ticket.Encode(a.pamTicketKey, t); err == nil {
			return enc
		}
	}
	a.log.Error("cannot make a ticket; the session goes on without one", "account", s.Account.Name, "err", err)
	return ""
}

// servePAM starts the verification endpoint when [pam] listen is set.
func (a *App) servePAM(ctx context.Context) error {
	cfg := a.Config().PAM
	if cfg.Listen == "" {
		return nil
	}
	cert, err := a.pamCertificate(cfg)
	if err != nil {
		return fmt.Errorf("pam endpoint certificate: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("pam listener %s: %w", cfg.Listen, err)
	}
	a.PAMAddr = ln.Addr().String()
	decisions := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gatehouse_pam_decisions_total",
		Help: "Answers of the PAM verification endpoint to the targets, by result."}, []string{"result"})
	a.Metrics.Registry.MustRegister(decisions)
	h := &pamverify.Server{
		Config:    func() config.PAM { return a.Config().PAM },
		TicketKey: a.pamTicketKey.Public().(ed25519.PublicKey),
		Accounts:  a.Store.GetAccount,
		Expired: func(acc store.Account, now time.Time) bool {
			if !acc.ExpiresAt.IsZero() && !now.Before(acc.ExpiresAt) {
				return true
			}
			acc.AlwaysActive = acc.AlwaysActive || a.Config().AlwaysActive(acc.Name)
			_, inactive := osh.InactivityExpired(&acc, now, a.Config().AccountMaxInactiveDays)
			return inactive
		},
		CheckTOTP:     pamverify.TOTPChecker(a.MFA),
		StartCode:     a.Notify.StartCode,
		StartApproval: a.Notify.StartApproval,
		GetApproval:   a.Notify.GetApproval,
		AppendAudit:   a.appendAudit,
		Log:           a.log,
		Decisions:     func(r string) { decisions.WithLabelValues(r).Inc() },
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 20 * time.Second, IdleTimeout: time.Minute, MaxHeaderBytes: 16 << 10,
		TLSConfig: &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}},
		ErrorLog:  slog.NewLogLogger(a.log.Handler(), slog.LevelDebug)}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	go func() {
		if err := srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("pam endpoint stopped", "err", err)
		}
	}()
	return nil
}

// pamCertificate loads the configured pair, or the self-signed one of the data directory
// (made at first start, valid for the listen address, localhost and the host name).
func (a *App) pamCertificate(cfg config.PAM) (tls.Certificate, error) {
	if cfg.TLSCert != "" {
		return tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
	}
	certPath, keyPath := filepath.Join(a.DataDir, pamTLSCertFile), filepath.Join(a.DataDir, pamTLSKeyFile)
	if c, err := tls.LoadX509KeyPair(certPath, keyPath); err == nil {
		return c, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return tls.Certificate{}, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: "gatehouse pam endpoint"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(10, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}}
	if h, err := os.Hostname(); err == nil && h != "" {
		tmpl.DNSNames = append(tmpl.DNSNames, h)
	}
	if host, _, err := net.SplitHostPort(cfg.Listen); err == nil {
		if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() && !ip.IsLoopback() {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if ip == nil && host != "" && host != "localhost" {
			tmpl.DNSNames = append(tmpl.DNSNames, host)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := writeNew(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})); err != nil {
		return tls.Certificate{}, err
	}
	// The certificate is public: the targets get a copy as their ca_file.
	if err := writeNew(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})); err != nil {
		return tls.Certificate{}, err
	}
	return tls.LoadX509KeyPair(certPath, keyPath)
}
