package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

const (
	// DefaultTimeout bounds one Send, retries included, when Endpoint.Timeout is zero.
	DefaultTimeout = 10 * time.Second
	// maxResponseBody bounds what is read of a service's answer.
	maxResponseBody = 64 << 10
	// maxAttempts bounds retries after 429/503 even when Retry-After is tiny.
	maxAttempts = 3
)

var (
	// ErrRejected: the service answered, but not with success.
	ErrRejected = errors.New("notify: the service refused the message")
	// ErrRateLimited: the service asked to wait longer than the deadline allows.
	ErrRateLimited = errors.New("notify: rate limited beyond the deadline")
	// ErrTimeout: no answer before the deadline.
	ErrTimeout = errors.New("notify: no answer before the deadline")
)

// Sender delivers a Message to one channel.
type Sender interface {
	// Name identifies the channel in logs and errors (never the URL).
	Name() string
	// Send delivers m, or returns a *DeliveryError. It returns by the
	// context's deadline or the sender's own timeout, whichever is first.
	Send(ctx context.Context, m *Message) error
}

// Endpoint is what every HTTP sender needs.
type Endpoint struct {
	Name    string        // identifies the channel in logs and errors
	URL     string        // secret: webhook URLs carry their token
	Timeout time.Duration // per message, retries included; default DefaultTimeout
	Client  *http.Client  // default: a client that does not follow redirects
	Header  http.Header   // extra headers (e.g. Authorization); values are secrets
}

// DeliveryError says which channel failed and why, without the URL or the
// code.
type DeliveryError struct {
	Channel string // Endpoint.Name
	Status  int    // HTTP status, 0 when no answer
	Reason  string // short, sanitized reason (e.g. the service's error token)
	Err     error  // ErrRejected, ErrRateLimited, ErrTimeout or a transport error
}

func (e *DeliveryError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "notify: channel %q: ", e.Channel)
	if e.Status != 0 {
		fmt.Fprintf(&b, "HTTP %d: ", e.Status)
	}
	if e.Reason != "" {
		b.WriteString(e.Reason + ": ")
	}
	b.WriteString(strings.TrimPrefix(e.Err.Error(), "notify: "))
	return b.String()
}

func (e *DeliveryError) Unwrap() error { return e.Err }

// defaultClient refuses redirects: a webhook that redirects is misconfigured,
// and following it would send the message (and code) somewhere unreviewed.
var defaultClient = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// outbound is one request as a sender wants it sent.
type outbound struct {
	url    string
	header http.Header
	body   []byte
	// accept inspects a 2xx answer; nil accepts any 2xx.
	accept func(status int, body []byte) error
	// sign, when set, adds headers computed at send time (each attempt).
	sign func(h http.Header, body []byte, now time.Time)
	// secrets are redacted from any reason quoted from the answer.
	secrets []string
}

// post sends o with the endpoint's timeout, honouring Retry-After on 429 and
// 503 while the wait fits in the deadline.
func (e *Endpoint) post(ctx context.Context, o outbound) error {
	timeout := e.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := e.Client
	if client == nil {
		client = defaultClient
	}
	fail := func(status int, reason string, err error) error {
		return &DeliveryError{Channel: e.Name, Status: status, Reason: redact(reason, o.secrets), Err: err}
	}
	for attempt := 1; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.url, bytes.NewReader(o.body))
		if err != nil {
			// The URL is in err; say only that it is bad.
			return fail(0, "bad webhook URL in config", errors.New("invalid URL"))
		}
		for k, vs := range e.Header {
			req.Header[k] = vs
		}
		for k, vs := range o.header {
			req.Header[k] = vs
		}
		if o.sign != nil {
			o.sign(req.Header, o.body, time.Now())
		}
		resp, err := client.Do(req)
		if err != nil {
			return fail(0, "", transportError(ctx, err))
		}
		body, rerr := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
		_ = resp.Body.Close() // read only
		if rerr != nil {
			return fail(resp.StatusCode, "reading the answer", transportError(ctx, rerr))
		}
		status := resp.StatusCode
		if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
			wait, ok := retryAfter(resp.Header, body, time.Now())
			if !ok {
				return fail(status, excerpt(body), ErrRejected)
			}
			deadline, _ := ctx.Deadline()
			if attempt >= maxAttempts || time.Now().Add(wait).After(deadline) {
				return fail(status, fmt.Sprintf("Retry-After %v", wait.Round(time.Millisecond)), ErrRateLimited)
			}
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return fail(status, "waiting for Retry-After", ErrTimeout)
			case <-t.C:
			}
			continue
		}
		if status < 200 || status > 299 {
			return fail(status, excerpt(body), ErrRejected)
		}
		if o.accept != nil {
			if err := o.accept(status, body); err != nil {
				return fail(status, err.Error(), ErrRejected)
			}
		}
		return nil
	}
}

// transportError drops the URL that net/http puts in its errors and tells a
// timeout from other failures.
func transportError(ctx context.Context, err error) error {
	if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
		return ErrTimeout
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Errorf("notify: transport: %w", err)
}

// retryAfter reads how long the service asks to wait: the Retry-After header
// as delta-seconds or HTTP-date (RFC 9110), or Discord's JSON retry_after.
func retryAfter(h http.Header, body []byte, now time.Time) (time.Duration, bool) {
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if secs, err := strconv.ParseFloat(v, 64); err == nil && secs >= 0 && secs < 1e6 {
			return time.Duration(secs * float64(time.Second)), true
		}
		if t, err := http.ParseTime(v); err == nil {
			return max(t.Sub(now), 0), true
		}
		return 0, false
	}
	var d struct {
		RetryAfter *float64 `json:"retry_after"`
	}
	if jsonObject(body, &d) && d.RetryAfter != nil && *d.RetryAfter >= 0 && *d.RetryAfter < 1e6 {
		return time.Duration(*d.RetryAfter * float64(time.Second)), true
	}
	return 0, false
}

// excerpt quotes the start of a service's answer, sanitized, for the error.
func excerpt(body []byte) string {
	s := strings.TrimSpace(string(body))
	if s == "" {
		return ""
	}
	return strconv.Quote(clean(s, 120))
}

// redact removes secrets (the code) a service might echo back in its answer.
func redact(s string, secrets []string) string {
	for _, x := range secrets {
		if x != "" {
			s = strings.ReplaceAll(s, x, "[redacted]")
		}
	}
	return s
}

func jsonHeader() http.Header {
	return http.Header{"Content-Type": {"application/json"}}
}
