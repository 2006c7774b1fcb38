package notify

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestRandomDigitsRejectsBiasedBytes(t *testing.T) {
	// 250..255 would make 0..5 more likely if taken modulo 10; they must be skipped.
	src := bytes.NewReader(append([]byte{255, 250, 13, 251, 9, 254, 100, 249, 0, 77}, make([]byte, 64)...))
	got, err := RandomDigits(src, 5)
	if err != nil {
		t.Fatal(err)
	}
	if got != "39090" {
		t.Errorf("RandomDigits = %q, want 39090 (13,9,100,249,0 mod 10)", got)
	}
	if _, err := RandomDigits(bytes.NewReader(bytes.Repeat([]byte{255}, 1<<16)), 6); err == nil {
		t.Error("a source of only rejected bytes must fail, not loop or bias")
	}
	if _, err := RandomDigits(bytes.NewReader(nil), 6); err == nil {
		t.Error("an empty source must fail")
	}
}

// TestRandomDigitsUniform: chi-squared over digit counts (9 degrees of
// freedom; 27.88 is the 0.1% critical value) and over leading digits, which
// the original module's uint32-truncation skewed towards 1–4.
func TestRandomDigitsUniform(t *testing.T) {
	const codes = 20000
	var all, first [10]int
	for range codes {
		c, err := RandomDigits(rand.Reader, 8)
		if err != nil || len(c) != 8 {
			t.Fatalf("RandomDigits = %q, %v", c, err)
		}
		first[c[0]-'0']++
		for _, d := range c {
			all[d-'0']++
		}
	}
	chi2 := func(counts [10]int, n int) float64 {
		e := float64(n) / 10
		var x float64
		for _, c := range counts {
			x += (float64(c) - e) * (float64(c) - e) / e
		}
		return x
	}
	if x := chi2(all, codes*8); x > 27.88 {
		t.Errorf("digits not uniform: chi2 %.1f counts %v", x, all)
	}
	if x := chi2(first, codes); x > 27.88 {
		t.Errorf("leading digits not uniform: chi2 %.1f counts %v", x, first)
	}
}

func TestSessionLabel(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		l, err := SessionLabel(rand.Reader)
		if err != nil || !regexp.MustCompile(`^[A-Z2-7]{6}$`).MatchString(l) {
			t.Fatalf("SessionLabel = %q, %v", l, err)
		}
		seen[l] = true
	}
	if len(seen) < 195 {
		t.Errorf("only %d distinct labels of 200", len(seen))
	}
}

// captureSender records messages instead of sending them.
type captureSender struct {
	name string
	err  error
	got  chan *Message
}

func (c *captureSender) Name() string { return c.name }
func (c *captureSender) Send(_ context.Context, m *Message) error {
	if c.got != nil {
		cp := *m
		c.got <- &cp
	}
	return c.err
}

var codeInSlack = regexp.MustCompile("Code for session \\*([A-Z2-7]{6})\\*: `([0-9]+)`")

// TestCodeFactorThroughSlack: the code the user types is the one the
// (stand-in) Slack channel received, and the label matches the prompt.
func TestCodeFactorThroughSlack(t *testing.T) {
	svc := newService(t, answer(200, "ok"))
	var logs bytes.Buffer
	clock := &fixedClock{t: t0}
	f, err := NewCodeFactor(CodeConfig{
		Channels: []Sender{slackAt(t, svc.URL, 2*time.Second)},
		Bastion:  "bh1", Now: clock.Now,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	req := Request{Account: "bob", SourceIP: "192.0.2.7", Target: "root@db1:22"}
	ch, err := f.Start(context.Background(), req)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	body := string(svc.requests()[0].Body)
	match := codeInSlack.FindStringSubmatch(strings.ReplaceAll(body, `\u0060`, "`"))
	if match == nil {
		t.Fatalf("no code in Slack payload %s", body)
	}
	label, code := match[1], match[2]
	if label != ch.Label || ch.Prompt() != "Code for session "+label+": " || len(code) != 6 {
		t.Errorf("label %q prompt %q code %q", label, ch.Prompt(), code)
	}
	for _, want := range []string{"bob", "192.0.2.7", "root@db1:22", "bh1", "2025-03-04T10:20:30Z", "2025-03-04T10:22:30Z"} {
		if !strings.Contains(body, want) {
			t.Errorf("message lacks %q: %s", want, body)
		}
	}
	if err := ch.Verify(" " + code + "\n"); err != nil {
		t.Errorf("Verify(right code) = %v", err)
	}
	if err := ch.Verify(code); !errors.Is(err, ErrCodeUsed) {
		t.Errorf("second Verify = %v, want ErrCodeUsed", err)
	}
	if strings.Contains(logs.String(), code) {
		t.Errorf("log reveals the code:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), label) {
		t.Errorf("log lacks the label:\n%s", logs.String())
	}
}

func TestCodeChallengeVerify(t *testing.T) {
	cases := []struct {
		name  string
		typed func(code string) string
		after time.Duration
		want  error
	}{
		{"right", func(c string) string { return c }, 0, nil},
		{"right just before expiry", func(c string) string { return c }, 119 * time.Second, nil},
		{"wrong", func(c string) string { return "000000"[:len(c)-1] + string('0'+(c[len(c)-1]-'0'+1)%10) }, 0, ErrCodeWrong},
		{"prefix", func(c string) string { return c[:5] }, 0, ErrCodeWrong},
		{"longer", func(c string) string { return c + "0" }, 0, ErrCodeWrong},
		{"empty", func(string) string { return "" }, 0, ErrCodeWrong},
		{"right but expired", func(c string) string { return c }, 120 * time.Second, ErrCodeExpired},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cap := &captureSender{name: "cap", got: make(chan *Message, 1)}
			clock := &fixedClock{t: t0}
			f, err := NewCodeFactor(CodeConfig{Channels: []Sender{cap}, Now: clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			ch, err := f.Start(context.Background(), Request{Account: "bob"})
			if err != nil {
				t.Fatal(err)
			}
			m := <-cap.got
			clock.Add(c.after)
			typed := c.typed(m.Code)
			if c.name == "wrong" && typed == m.Code {
				t.Fatal("test bug: wrong code equals the code")
			}
			if err := ch.Verify(typed); err != c.want {
				t.Errorf("Verify = %v, want %v", err, c.want)
			}
			// Whatever happened, the code is now spent.
			if err := ch.Verify(m.Code); !errors.Is(err, ErrCodeUsed) {
				t.Errorf("Verify after use = %v, want ErrCodeUsed", err)
			}
		})
	}
}

func TestCodeFactorDelivery(t *testing.T) {
	ok := &captureSender{name: "ok"}
	down := &captureSender{name: "down", err: &DeliveryError{Channel: "down", Status: 404, Err: ErrRejected}}
	cases := []struct {
		name     string
		channels []Sender
		mode     Delivery
		wantErr  bool
	}{
		{"all accept", []Sender{ok, ok}, DeliverAll, false},
		{"one down, all required", []Sender{ok, down}, DeliverAll, true},
		{"one down, any suffices", []Sender{ok, down}, DeliverAny, false},
		{"all down, any suffices", []Sender{down, down}, DeliverAny, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := NewCodeFactor(CodeConfig{Channels: c.channels, Delivery: c.mode})
			if err != nil {
				t.Fatal(err)
			}
			ch, err := f.Start(context.Background(), Request{Account: "bob"})
			if c.wantErr {
				if !errors.Is(err, ErrUndelivered) || ch != nil || !errors.Is(err, ErrRejected) {
					t.Fatalf("Start = %v, %v; want ErrUndelivered and no challenge", ch, err)
				}
				return
			}
			if err != nil || ch == nil {
				t.Fatalf("Start = %v, %v", ch, err)
			}
		})
	}
	if _, err := NewCodeFactor(CodeConfig{}); !errors.Is(err, ErrNoChannel) {
		t.Errorf("NewCodeFactor without channels = %v, want ErrNoChannel", err)
	}
	if _, err := NewCodeFactor(CodeConfig{Channels: []Sender{ok}, Digits: 3}); err == nil {
		t.Error("3 digits accepted")
	}
}

// TestCodeFactorHangingChannelBounded: a hanging channel fails Start within
// SendTimeout, with no challenge.
func TestCodeFactorHangingChannelBounded(t *testing.T) {
	svc := newService(t, func(w http.ResponseWriter, r *http.Request, _ int) { <-r.Context().Done() })
	f, err := NewCodeFactor(CodeConfig{Channels: []Sender{slackAt(t, svc.URL, time.Minute)}, SendTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	ch, err := f.Start(context.Background(), Request{Account: "bob"})
	if ch != nil || !errors.Is(err, ErrTimeout) || time.Since(start) > 1500*time.Millisecond {
		t.Fatalf("Start = %v, %v after %v", ch, err, time.Since(start))
	}
}
