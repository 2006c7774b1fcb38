package config

import (
	"net"
	"strings"
	"time"
)

// Web is the [web] table: the web console (docs/web.md).
type Web struct {
	// Listen is the console's listener ("0.0.0.0:8444"); "" turns the console and webLogin off.
	Listen string `toml:"listen"`
	// TLSCert and TLSKey are PEM files; both "" makes a self-signed pair in the data directory
	// at first start (DATA/web_tls.crt), whose fingerprint webLogin prints.
	TLSCert string `toml:"tls_cert"`
	TLSKey  string `toml:"tls_key"`
	// PlainHTTPLoopback serves plain HTTP instead of HTTPS; refused unless listen is a loopback
	// address (a reverse proxy on the same host terminates TLS).
	PlainHTTPLoopback bool `toml:"plain_http_loopback"`
	// SessionTTL is a console session's life (Go duration, default 12h, 5m to 168h).
	SessionTTL string `toml:"session_ttl"`
	// PublicURL is the base of the URLs webLogin prints ("https://bastion.example:8444");
	// "" derives it from listen.
	PublicURL string `toml:"public_url"`
	// WatchSilently does not tell people in their terminal that an auditor watches their session
	// live (the watching is audited either way). Default false: they are told.
	WatchSilently bool `toml:"watch_silently"`
}

// DefaultWebSessionTTL is a console session's life when session_ttl is not set.
const DefaultWebSessionTTL = 12 * time.Hour

// SessionLifetime is the session_ttl in force.
func (w Web) SessionLifetime() time.Duration {
	if d, err := time.ParseDuration(w.SessionTTL); err == nil && d > 0 {
		return d
	}
	return DefaultWebSessionTTL
}

func (w Web) validate() error {
	if w.Listen == "" {
		return nil
	}
	host, _, err := splitHostPort(w.Listen)
	if err != nil {
		return bad("web.listen", "%v", err)
	}
	if (w.TLSCert == "") != (w.TLSKey == "") {
		return bad("web.tls_cert", "tls_cert and tls_key go together (both empty: self-signed)")
	}
	if w.PlainHTTPLoopback {
		host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
		ip := net.ParseIP(host)
		if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return bad("web.plain_http_loopback", "plain HTTP is only served on a loopback address, not %q", w.Listen)
		}
		if w.TLSCert != "" {
			return bad("web.plain_http_loopback", "plain HTTP and tls_cert exclude each other")
		}
	}
	if w.SessionTTL != "" {
		d, err := time.ParseDuration(w.SessionTTL)
		if err != nil || d < 5*time.Minute || d > 168*time.Hour {
			return bad("web.session_ttl", "%q must be a duration between 5m and 168h", w.SessionTTL)
		}
	}
	return nil
}
