// Package ticket makes and checks the short-lived tickets gatehouse hands a target when it opens
// an egress session (the GATEHOUSE_TICKET environment variable), so that a PAM module on the
// target can tell the bastion who the person behind a shared account ("root", "ubuntu") is.
//
// A ticket is "gt1.<payload>.<signature>", both parts base64url without padding: the payload is
// JSON naming the account (id and name), the session, the target (host as typed, the IP dialled,
// port, remote user), the issue and expiry times and a random nonce; the signature is ed25519 by
// the bastion's ticket key over "gt1." and the encoded payload.
//
// Invariants: Verify checks the size, then the signature, and only then parses the payload, so
// that nothing an attacker writes is interpreted unless the bastion signed it; every problem is
// an error, never a partly filled Ticket that a caller could trust. A ticket proves only who
// opened the session: it is no factor (anyone who can read the session's environment on the
// target can present it), so the verification endpoint always asks a factor besides.
package ticket

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// EnvName is the environment variable the ticket travels in (the target's sshd must AcceptEnv it).
const EnvName = "GATEHOUSE_TICKET"

// Prompt is the question pam_gatehouse.so asks (with ask_ticket=yes) when the ticket is not in
// its environment, as in sshd's keyboard-interactive authentication, which runs before the
// session's env requests arrive. gatehouse's egress client recognises it exactly and answers the
// session's ticket itself; a person who connected directly sees what it is and presses Enter.
const Prompt = "Gatehouse ticket (the bastion answers this; press Enter if you came directly): "

// Limits.
const (
	prefix = "gt1"
	// MaxLen bounds an encoded ticket; a real one is about 400 bytes.
	MaxLen = 2048
	// MaxTTL bounds the lifetime Verify accepts, whatever the ticket says.
	MaxTTL = 7 * 24 * time.Hour
	// Skew is how far in the future an issue time may be (clocks of bastion and verifier are
	// the same machine today, but a cluster of bastions may differ a little).
	Skew = 2 * time.Minute
)

// Errors returned by Verify; all of them mean: no identity.
var (
	ErrMalformed   = errors.New("ticket: malformed")
	ErrTooLong     = errors.New("ticket: too long")
	ErrSignature   = errors.New("ticket: bad signature")
	ErrExpired     = errors.New("ticket: expired")
	ErrNotYetValid = errors.New("ticket: issued in the future")
)

// Ticket is what a ticket says.
type Ticket struct {
	Version   int    `json:"v"`
	AccountID string `json:"aid"`
	Account   string `json:"acct"`
	Session   string `json:"sid"`
	Host      string `json:"host"` // as the person typed it
	IP        string `json:"ip"`   // the address the bastion dialled
	Port      int    `json:"port"`
	User      string `json:"user"` // the remote account
	IssuedAt  int64  `json:"iat"`  // Unix seconds
	ExpiresAt int64  `json:"exp"`  // Unix seconds
	Nonce     string `json:"nonce"`
}

// New fills a ticket for a session opened at now, valid for ttl, with a fresh nonce.
func New(now time.Time, ttl time.Duration, accountID, account, session, host, ip string, port int, user string) (Ticket, error) {
	n := make([]byte, 12)
	if _, err := rand.Read(n); err != nil {
		return Ticket{}, fmt.Errorf("ticket nonce: %w", err)
	}
	return Ticket{Version: 1, AccountID: accountID, Account: account, Session: session, Host: host, IP: ip, Port: port,
		User: user, IssuedAt: now.Unix(), ExpiresAt: now.Add(ttl).Unix(), Nonce: b64.EncodeToString(n)}, nil
}

var b64 = base64.RawURLEncoding

func signed(payload string) []byte { return []byte(prefix + "." + payload) }

// Encode signs t with key.
func Encode(key ed25519.PrivateKey, t Ticket) (string, error) {
	if err := t.check(); err != nil {
		return "", err
	}
	data, err := json.Marshal(t)
	if err != nil {
		return "", fmt.Errorf("ticket: %w", err)
	}
	p := b64.EncodeToString(data)
	sig := ed25519.Sign(key, signed(p))
	s := prefix + "." + p + "." + b64.EncodeToString(sig)
	if len(s) > MaxLen {
		return "", ErrTooLong
	}
	return s, nil
}

// check says whether the fields make a ticket (also used before signing, so that the bastion
// never signs what Verify would refuse).
func (t Ticket) check() error {
	switch {
	case t.Version != 1:
		return fmt.Errorf("%w: version %d", ErrMalformed, t.Version)
	case t.AccountID == "" || t.Account == "" || t.Session == "" || t.User == "" || t.Nonce == "":
		return fmt.Errorf("%w: missing field", ErrMalformed)
	case t.Host == "" && t.IP == "":
		return fmt.Errorf("%w: no target", ErrMalformed)
	case t.Port < 1 || t.Port > 65535:
		return fmt.Errorf("%w: port %d", ErrMalformed, t.Port)
	case t.ExpiresAt <= t.IssuedAt:
		return fmt.Errorf("%w: expires before it is issued", ErrMalformed)
	case t.ExpiresAt-t.IssuedAt > int64(MaxTTL/time.Second):
		return fmt.Errorf("%w: lifetime longer than %s", ErrMalformed, MaxTTL)
	}
	return nil
}

// Verify checks s against the bastion's public key at now and returns what it says.
func Verify(pub ed25519.PublicKey, s string, now time.Time) (Ticket, error) {
	if len(s) > MaxLen {
		return Ticket{}, ErrTooLong
	}
	if len(pub) != ed25519.PublicKeySize {
		return Ticket{}, errors.New("ticket: no verification key")
	}
	parts := strings.Split(s, ".")
	if len(parts) != 3 || parts[0] != prefix || parts[1] == "" {
		return Ticket{}, ErrMalformed
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil || len(sig) != ed25519.SignatureSize {
		return Ticket{}, ErrMalformed
	}
	if !ed25519.Verify(pub, signed(parts[1]), sig) {
		return Ticket{}, ErrSignature
	}
	data, err := b64.DecodeString(parts[1])
	if err != nil {
		return Ticket{}, ErrMalformed
	}
	var t Ticket
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&t); err != nil || dec.More() {
		return Ticket{}, ErrMalformed
	}
	if err := t.check(); err != nil {
		return Ticket{}, err
	}
	if time.Unix(t.IssuedAt, 0).After(now.Add(Skew)) {
		return Ticket{}, ErrNotYetValid
	}
	if !now.Before(time.Unix(t.ExpiresAt, 0)) {
		return Ticket{}, ErrExpired
	}
	return t, nil
}

// ForServer says whether the ticket was issued for a session to one of a server's addresses
// (host names or IPs, compared case-insensitively). An empty list matches nothing.
func (t Ticket) ForServer(addresses []string) bool {
	for _, a := range addresses {
		if a == "" {
			continue
		}
		if strings.EqualFold(a, t.Host) || strings.EqualFold(a, t.IP) {
			return true
		}
	}
	return false
}

// Expiry is when the ticket ends.
func (t Ticket) Expiry() time.Time { return time.Unix(t.ExpiresAt, 0) }
