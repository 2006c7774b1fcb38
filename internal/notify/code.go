package notify

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"
)

const (
	DefaultCodeDigits  = 6
	DefaultCodeTTL     = 120 * time.Second
	DefaultSendTimeout = 10 * time.Second
	labelLength        = 6
)

var (
	ErrCodeWrong   = errors.New("notify: wrong code")
	ErrCodeExpired = errors.New("notify: code expired; log in again to get a new one")
	ErrCodeUsed    = errors.New("notify: code already used; log in again to get a new one")
)

// CodeConfig configures the webhook code factor.
type CodeConfig struct {
	Channels    []Sender      // where the code is posted; at least one
	Delivery    Delivery      // DeliverAll (default) or DeliverAny
	Digits      int           // code length, 4–12; default 6
	TTL         time.Duration // code lifetime; default 120 s
	SendTimeout time.Duration // bound on delivery, retries included; default 10 s, at most TTL
	Bastion     string        // bastion name shown in the message
	Now         func() time.Time
	Rand        io.Reader // default crypto/rand.Reader
	Logger      *slog.Logger
}

// CodeFactor posts a fresh code to the configured channels for each login
// and hands back a challenge to check what the user types.
type CodeFactor struct {
	cfg CodeConfig
	log *slog.Logger
}

// NewCodeFactor checks cfg and fills in defaults.
func NewCodeFactor(cfg CodeConfig) (*CodeFactor, error) {
	if len(cfg.Channels) == 0 {
		return nil, fmt.Errorf("%w: the webhook code factor needs a channel", ErrNoChannel)
	}
	for i, s := range cfg.Channels {
		if s == nil {
			return nil, fmt.Errorf("notify: webhook code channel %d is nil", i)
		}
	}
	if cfg.Digits == 0 {
		cfg.Digits = DefaultCodeDigits
	}
	if cfg.Digits < 4 || cfg.Digits > 12 {
		return nil, fmt.Errorf("notify: code length %d out of range; use 4 to 12 digits", cfg.Digits)
	}
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultCodeTTL
	}
	if cfg.SendTimeout <= 0 {
		cfg.SendTimeout = DefaultSendTimeout
	}
	cfg.SendTimeout = min(cfg.SendTimeout, cfg.TTL)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &CodeFactor{cfg: cfg, log: log}, nil
}

// CodeChallenge is one code waiting to be typed. It holds the only copy of
// the code; the first Verify consumes it.
type CodeChallenge struct {
	Label     string    // public session label, also in the chat message
	ExpiresAt time.Time // Verify refuses after this instant

	now  func() time.Time
	mu   sync.Mutex
	code []byte // nil once used
}

// Start draws a code and a label, posts the message and returns the
// challenge. If the message is not delivered (per cfg.Delivery) it returns an
// error wrapping ErrUndelivered and no challenge: the login must fail (or
// fall back to another factor).
func (f *CodeFactor) Start(ctx context.Context, r Request) (*CodeChallenge, error) {
	code, err := RandomDigits(f.cfg.Rand, f.cfg.Digits)
	if err != nil {
		return nil, fmt.Errorf("notify: drawing a code: %w", err)
	}
	label, err := SessionLabel(f.cfg.Rand)
	if err != nil {
		return nil, fmt.Errorf("notify: drawing a session label: %w", err)
	}
	now := f.cfg.Now()
	msg := &Message{
		Kind:      KindCode,
		Request:   r,
		Bastion:   f.cfg.Bastion,
		Label:     label,
		Code:      code,
		When:      now,
		ExpiresAt: now.Add(f.cfg.TTL),
	}
	out := make([]Outgoing, len(f.cfg.Channels))
	for i, s := range f.cfg.Channels {
		out[i] = Outgoing{Sender: s, Message: msg}
	}
	sendCtx, cancel := context.WithTimeout(ctx, f.cfg.SendTimeout)
	defer cancel()
	if err := Deliver(sendCtx, f.log, f.cfg.Delivery, out); err != nil {
		f.log.WarnContext(ctx, "webhook code not delivered; factor fails", "account", r.Account, "label", label)
		return nil, err
	}
	f.log.InfoContext(ctx, "webhook code sent", "account", r.Account, "source_ip", r.SourceIP, "label", label,
		"channels", len(out), "expires_at", msg.ExpiresAt)
	return &CodeChallenge{Label: label, ExpiresAt: msg.ExpiresAt, now: f.cfg.Now, code: []byte(code)}, nil
}

// Prompt is what the SSH side shows: "Code for session <label>: ".
func (c *CodeChallenge) Prompt() string {
	return "Code for session " + c.Label + ": "
}

// Verify checks a typed code. Whatever the outcome, the challenge is used
// up: one code, one try. (A wrong guess must cost a new message in the
// channel, so guessing 10^N codes is not an option.)
func (c *CodeChallenge) Verify(typed string) error {
	c.mu.Lock()
	code := c.code
	c.code = nil
	c.mu.Unlock()
	if code == nil {
		return ErrCodeUsed
	}
	defer clear(code)
	if !c.now().Before(c.ExpiresAt) {
		return ErrCodeExpired
	}
	if subtle.ConstantTimeCompare([]byte(strings.TrimSpace(typed)), code) != 1 {
		return ErrCodeWrong
	}
	return nil
}

// RandomDigits returns n decimal digits, each uniform: bytes ≥ 250 are
// rejected so that b%10 has no bias.
func RandomDigits(r io.Reader, n int) (string, error) {
	out := make([]byte, 0, n)
	buf := make([]byte, n+8)
	for range 64 {
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		for _, b := range buf {
			if b < 250 {
				out = append(out, '0'+b%10)
				if len(out) == n {
					s := string(out)
					clear(buf)
					clear(out)
					return s, nil
				}
			}
		}
	}
	return "", errors.New("random source keeps returning rejected bytes")
}

const labelAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567" // RFC 4648 base32

// SessionLabel returns a 6-character public label (30 bits, base32
// alphabet) that tells concurrent logins apart in prompt and channel.
func SessionLabel(r io.Reader) (string, error) {
	var buf [labelLength]byte
	if _, err := io.ReadFull(r, buf[:]); err != nil {
		return "", err
	}
	for i, b := range buf {
		buf[i] = labelAlphabet[b&31] // 256 is a multiple of 32: uniform
	}
	return string(buf[:]), nil
}
