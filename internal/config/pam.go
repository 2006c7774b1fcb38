package config

import (
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// PAM is the [pam] block: the verification endpoint the targets' pam_gatehouse.so asks, and the
// tickets gatehouse hands targets. Off while Listen is "". See docs/pam.md.
type PAM struct {
	// Listen is the HTTPS listener ("0.0.0.0:8443"); "" turns tickets and the endpoint off.
	Listen string `toml:"listen"`
	// TLSCert and TLSKey are PEM files; both "" makes a self-signed pair in the data directory
	// at first start (DATA/pam_tls.crt, give it to the targets as their ca_file).
	TLSCert string `toml:"tls_cert"`
	TLSKey  string `toml:"tls_key"`
	// TicketTTL bounds a ticket's life (Go duration, default 12h, at most 168h).
	TicketTTL string `toml:"ticket_ttl"`
	// Servers by name: the token each target authenticates with, and what it may ask.
	Servers map[string]PAMServer `toml:"servers"`
}

// PAMServer is one [pam.servers.NAME] table.
type PAMServer struct {
	// TokenSHA256 is the hex SHA-256 of the server's token (`gatehouse pam-token` makes both);
	// the token itself is never stored on the bastion.
	TokenSHA256 string `toml:"token_sha256"`
	// Addresses the bastion dials this server by (IPs or host names as people type them): a
	// ticket is accepted only when its target is one of them.
	Addresses []string `toml:"addresses"`
	// Factor asked: "totp" (default; the person's own TOTP), "webhook" (a code posted to the
	// [notify] codes channels, as the chat code factor at the bastion) or "approval" (a
	// colleague approves in the [notify] approvals channels; always four eyes).
	Factor string `toml:"factor"`
	// Rules pick another factor for some services or commands ([[pam.servers.NAME.rule]]);
	// the first that matches wins, else Factor. See pamverify.PickFactor.
	Rules []PAMRule `toml:"rule"`
	// AllowNoTicket lets the module name an account when it has no ticket (a console login);
	// otherwise such requests are refused.
	AllowNoTicket bool `toml:"allow_no_ticket"`
}

// PAMRule is one [[pam.servers.NAME.rule]]: when the PAM service and the command match, ask
// this factor instead of the server's.
type PAMRule struct {
	// Service is the PAM service ("sudo", "sshd", …); "" matches any.
	Service string `toml:"service"`
	// Command is a pattern over the command sudo runs (its options removed), "*" matching any
	// run of characters: "systemctl *", "/usr/bin/apt*". "" matches any command, even none.
	Command string `toml:"command"`
	Factor  string `toml:"factor"`
}

// PAMFactors are the factors a server or a rule may ask.
var PAMFactors = []string{"totp", "webhook", "approval"}

// DefaultPAMTicketTTL is a ticket's life when ticket_ttl is not set.
const DefaultPAMTicketTTL = 12 * time.Hour

// TicketLifetime is the ticket_ttl in force.
func (p PAM) TicketLifetime() time.Duration {
	if d, err := time.ParseDuration(p.TicketTTL); err == nil && d > 0 {
		return d
	}
	return DefaultPAMTicketTTL
}

var pamServerName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

func (p PAM) validate() error {
	if p.Listen == "" {
		if len(p.Servers) > 0 {
			return bad("pam.listen", "servers are configured but the endpoint has no listen address")
		}
		return nil
	}
	if _, _, err := splitHostPort(p.Listen); err != nil {
		return bad("pam.listen", "%v", err)
	}
	if (p.TLSCert == "") != (p.TLSKey == "") {
		return bad("pam.tls_cert", "tls_cert and tls_key go together (both empty: self-signed)")
	}
	if p.TicketTTL != "" {
		d, err := time.ParseDuration(p.TicketTTL)
		if err != nil || d < time.Minute || d > 168*time.Hour {
			return bad("pam.ticket_ttl", "%q must be a duration between 1m and 168h", p.TicketTTL)
		}
	}
	seen := map[string]string{}
	for name, s := range p.Servers {
		if !pamServerName.MatchString(name) {
			return bad("pam.servers", "%q: a server name is 1 to 64 letters, digits, '.', '_' or '-'", name)
		}
		if b, err := hex.DecodeString(s.TokenSHA256); err != nil || len(b) != 32 {
			return bad("pam.servers."+name+".token_sha256", "must be 64 hex digits (gatehouse pam-token --server %s)", name)
		}
		if other, dup := seen[s.TokenSHA256]; dup {
			return bad("pam.servers."+name+".token_sha256", "the same token as server %q: each server has its own", other)
		}
		seen[s.TokenSHA256] = name
		if len(s.Addresses) == 0 {
			return bad("pam.servers."+name+".addresses", "at least one address the bastion dials this server by")
		}
		for _, a := range s.Addresses {
			if a == "" {
				return bad("pam.servers."+name+".addresses", "an empty address")
			}
		}
		if s.Factor != "" && !slices.Contains(PAMFactors, s.Factor) {
			return badIn("pam.servers."+name, "factor", "%q: totp, webhook or approval", s.Factor)
		}
		for i, r := range s.Rules {
			table := fmt.Sprintf("pam.servers.%s.rule[%d]", name, i)
			if !slices.Contains(PAMFactors, r.Factor) {
				return badIn(table, "factor", "%q: totp, webhook or approval (a rule must name its factor)", r.Factor)
			}
			if r.Service == "" && r.Command == "" {
				return badIn(table, "command", "a rule needs a command or a service (the server's factor covers the rest)")
			}
			if len(r.Command) > 1024 || strings.ContainsAny(r.Command, "\x00\n") {
				return badIn(table, "command", "%q: one line, at most 1024 bytes", r.Command)
			}
			if r.Service != "" && !pamServerName.MatchString(r.Service) {
				return badIn(table, "service", "%q: a PAM service name (sudo, sshd, login …)", r.Service)
			}
		}
	}
	return nil
}
