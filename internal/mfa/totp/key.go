package totp

import (
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"net/url"
	"strings"
)

// Issuer is the issuer written into otpauth:// URIs, shown by authenticator apps above the code.
const Issuer = "gatehouse"

// SecretBytes is the size of a generated secret: 160 bits, as RFC 4226 recommends.
const SecretBytes = 20

// Kind says whether a key counts time steps or events.
type Kind int

const (
	KindTOTP Kind = iota
	KindHOTP      // counter-based, only ever set by a google_authenticator import
)

// Key is an account's OTP key and the parameters its authenticator uses.
// The zero values of Algorithm, Digits and Period mean SHA1, 6 and 30 s.
type Key struct {
	Secret    []byte
	Kind      Kind
	Algorithm Algorithm
	Digits    int   // 6 (default) or 8
	Period    int64 // seconds per step, TOTP only; 0 means 30
	// Window is the set of steps tried around the current one; nil means the Verifier's
	// default (±1 step).
	Window *Window
	// Skew is a known clock drift in steps added to the current step (google_authenticator's
	// TIME_SKEW). Usually 0.
	Skew int64
	// Counter is the next HOTP counter to accept, as imported (HOTP_COUNTER). The Verifier
	// starts from max(Counter, last accepted+1).
	Counter int64
}

func (k Key) digits() int {
	if k.Digits == 0 {
		return 6
	}
	return k.Digits
}

func (k Key) period() int64 {
	if k.Period <= 0 {
		return 30
	}
	return k.Period
}

// Window is how many steps before and after the current one a code may come from.
type Window struct {
	Behind, Ahead int
}

// DefaultWindow accepts the previous, current and next step (RFC 6238 §5.2 recommends one step
// of back skew; one ahead covers a phone whose clock runs slightly fast).
var DefaultWindow = Window{Behind: 1, Ahead: 1}

// WindowFromSize converts google_authenticator's WINDOW_SIZE n into a Window the way
// libpam does: steps -((n-1)/2) … n/2 around the current one.
func WindowFromSize(n int) Window {
	if n < 1 {
		n = 1
	}
	return Window{Behind: (n - 1) / 2, Ahead: n / 2}
}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewSecret returns a fresh random 160-bit secret.
func NewSecret() ([]byte, error) {
	s := make([]byte, SecretBytes)
	if _, err := rand.Read(s); err != nil {
		return nil, fmt.Errorf("totp: reading random secret: %w", err)
	}
	return s, nil
}

// EncodeSecret returns secret in unpadded upper-case base32, as authenticator apps expect it.
func EncodeSecret(secret []byte) string { return b32.EncodeToString(secret) }

// DecodeSecret parses a base32 secret typed or pasted by a person: case-insensitive, spaces and
// dashes ignored, padding optional.
func DecodeSecret(s string) ([]byte, error) {
	s = strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '-', '\r', '\n', '=':
			return -1
		}
		return r
	}, strings.ToUpper(s))
	if s == "" {
		return nil, fmt.Errorf("totp: empty secret")
	}
	out, err := b32.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("totp: secret is not valid base32: %w", err)
	}
	return out, nil
}

// URI returns the otpauth:// URI for key, labelled "issuer:account@bastion" as the
// google-authenticator Key-Uri-Format recommends (same issuer in the label and the parameter).
// algorithm, digits and period are written only when they differ from SHA1/6/30, since some apps
// ignore them and SHA1/6/30 is the only profile every app reads correctly.
func URI(key Key, account, bastion string) string {
	label := account
	if bastion != "" {
		label = account + "@" + bastion
	}
	v := url.Values{}
	v.Set("secret", EncodeSecret(key.Secret))
	v.Set("issuer", Issuer)
	if key.Algorithm != SHA1 {
		v.Set("algorithm", key.Algorithm.String())
	}
	if key.digits() != 6 {
		v.Set("digits", fmt.Sprint(key.digits()))
	}
	typ := "totp"
	if key.Kind == KindHOTP {
		typ = "hotp"
		c := key.Counter
		if c < 1 {
			c = 1
		}
		v.Set("counter", fmt.Sprint(c))
	} else if key.period() != 30 {
		v.Set("period", fmt.Sprint(key.period()))
	}
	// url.PathEscape keeps '@' and ':' literal, which is what apps show best.
	return "otpauth://" + typ + "/" + url.PathEscape(Issuer) + ":" + url.PathEscape(label) + "?" +
		strings.ReplaceAll(v.Encode(), "+", "%20")
}
