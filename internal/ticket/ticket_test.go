package ticket

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 2, 7, 0, 0, 0, time.UTC)

func keys(t testing.TB) (ed25519.PublicKey, ed25519.PrivateKey) {
	seed := make([]byte, ed25519.SeedSize)
	seed[0] = 1
	priv := ed25519.NewKeyFromSeed(seed)
	return priv.Public().(ed25519.PublicKey), priv
}

func sample(t testing.TB) Ticket {
	tk, err := New(t0, 12*time.Hour, "acc-1", "alice", "sess-1", "web1", "10.0.0.5", 22, "root")
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

// resign signs any payload bytes, as a bastion key holder could (for tests of what Verify does
// after the signature).
func resign(priv ed25519.PrivateKey, payload []byte) string {
	p := b64.EncodeToString(payload)
	return prefix + "." + p + "." + b64.EncodeToString(ed25519.Sign(priv, signed(p)))
}

func TestVerifyTable(t *testing.T) {
	pub, priv := keys(t)
	_, otherPriv, _ := ed25519.GenerateKey(nil)
	good, err := Encode(priv, sample(t))
	if err != nil {
		t.Fatal(err)
	}
	forged, _ := Encode(otherPriv, sample(t))
	parts := strings.Split(good, ".")
	// A payload changed after signing (alice → mallory) keeps the old signature.
	alt := sample(t)
	alt.Account = "mallory"
	altData, _ := json.Marshal(alt)
	swapped := parts[0] + "." + b64.EncodeToString(altData) + "." + parts[2]
	withField := func(f func(map[string]any)) string {
		m := map[string]any{}
		data, _ := json.Marshal(sample(t))
		_ = json.Unmarshal(data, &m)
		f(m)
		data, _ = json.Marshal(m)
		return resign(priv, data)
	}
	cases := []struct {
		name string
		s    string
		now  time.Time
		want error
	}{
		{"good", good, t0.Add(time.Hour), nil},
		{"good at issue", good, t0, nil},
		{"good a little before issue (skew)", good, t0.Add(-time.Minute), nil},
		{"issued in the future", good, t0.Add(-time.Hour), ErrNotYetValid},
		{"expired exactly", good, t0.Add(12 * time.Hour), ErrExpired},
		{"expired", good, t0.Add(13 * time.Hour), ErrExpired},
		{"forged by another key", forged, t0, ErrSignature},
		{"payload swapped", swapped, t0, ErrSignature},
		{"signature truncated", good[:len(good)-4], t0, ErrMalformed},
		{"truncated to two parts", parts[0] + "." + parts[1], t0, ErrMalformed},
		{"empty", "", t0, ErrMalformed},
		{"other prefix", "gt2." + parts[1] + "." + parts[2], t0, ErrMalformed},
		{"extra part", good + ".x", t0, ErrMalformed},
		{"bad base64 signature", parts[0] + "." + parts[1] + ".!!!", t0, ErrMalformed},
		{"too long", good + strings.Repeat("A", MaxLen), t0, ErrTooLong},
		{"signed garbage", resign(priv, []byte("not json")), t0, ErrMalformed},
		{"signed trailing data", resign(priv, append(mustJSON(sample(t)), []byte(" {}")...)), t0, ErrMalformed},
		{"signed unknown field", withField(func(m map[string]any) { m["admin"] = true }), t0, ErrMalformed},
		{"signed version 2", withField(func(m map[string]any) { m["v"] = 2 }), t0, ErrMalformed},
		{"signed no account", withField(func(m map[string]any) { m["acct"] = "" }), t0, ErrMalformed},
		{"signed no account id", withField(func(m map[string]any) { delete(m, "aid") }), t0, ErrMalformed},
		{"signed no target", withField(func(m map[string]any) { m["host"], m["ip"] = "", "" }), t0, ErrMalformed},
		{"signed bad port", withField(func(m map[string]any) { m["port"] = 70000 }), t0, ErrMalformed},
		{"signed lifetime too long", withField(func(m map[string]any) { m["exp"] = t0.Add(MaxTTL + time.Second).Unix() }), t0, ErrMalformed},
		{"signed expiry before issue", withField(func(m map[string]any) { m["exp"] = t0.Add(-time.Second).Unix() }), t0, ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Verify(pub, c.s, c.now)
			if !errors.Is(err, c.want) {
				t.Fatalf("Verify: err %v, want %v", err, c.want)
			}
			if c.want != nil && got != (Ticket{}) {
				t.Fatalf("a refused ticket returned fields: %+v", got)
			}
			if c.want == nil && (got.Account != "alice" || got.User != "root" || got.Session != "sess-1") {
				t.Fatalf("fields: %+v", got)
			}
		})
	}
}

func mustJSON(v any) []byte { b, _ := json.Marshal(v); return b }

func TestVerifyWithoutKeyRefuses(t *testing.T) {
	_, priv := keys(t)
	s, _ := Encode(priv, sample(t))
	if _, err := Verify(nil, s, t0); err == nil {
		t.Fatal("a nil key verified a ticket")
	}
}

func TestEncodeRefusesWhatVerifyWould(t *testing.T) {
	_, priv := keys(t)
	bad := sample(t)
	bad.ExpiresAt = bad.IssuedAt
	if _, err := Encode(priv, bad); !errors.Is(err, ErrMalformed) {
		t.Fatalf("Encode signed a zero-lifetime ticket: %v", err)
	}
}

func TestForServer(t *testing.T) {
	tk := sample(t)
	for _, c := range []struct {
		addrs []string
		want  bool
	}{
		{[]string{"web1"}, true},
		{[]string{"WEB1"}, true},
		{[]string{"10.0.0.5"}, true},
		{[]string{"db1", "10.0.0.5"}, true},
		{[]string{"web2", "10.0.0.6"}, false}, // a ticket from another server
		{nil, false},
		{[]string{""}, false},
	} {
		if got := tk.ForServer(c.addrs); got != c.want {
			t.Errorf("ForServer(%v) = %v, want %v", c.addrs, got, c.want)
		}
	}
	noHost := tk
	noHost.Host = ""
	if noHost.ForServer([]string{""}) {
		t.Error("an empty address matched an empty host")
	}
}

func TestNoncesDiffer(t *testing.T) {
	a, b := sample(t), sample(t)
	if a.Nonce == b.Nonce {
		t.Fatal("two tickets share a nonce")
	}
}

func FuzzVerify(f *testing.F) {
	pub, priv := keys(f)
	good, _ := Encode(priv, sample(f))
	f.Add(good)
	f.Add("")
	f.Add("gt1..")
	f.Add("gt1.e30." + strings.Repeat("A", 86))
	f.Add(resign(priv, []byte(`{"v":1}`)))
	f.Add(resign(priv, []byte(`{"v":1,"aid":"a","acct":"b","sid":"c","host":"h","port":22,"user":"u","iat":1,"exp":2,"nonce":"n"}`)))
	f.Fuzz(func(t *testing.T, s string) {
		tk, err := Verify(pub, s, t0)
		if err != nil {
			if tk != (Ticket{}) {
				t.Fatalf("refused with fields %+v", tk)
			}
			return
		}
		// Whatever verifies must satisfy the invariants and re-encode to a verifying ticket.
		if tk.check() != nil || !t0.Before(tk.Expiry()) {
			t.Fatalf("verified an invalid ticket %+v", tk)
		}
		again, err := Encode(priv, tk)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Verify(pub, again, t0); err != nil {
			t.Fatal(err)
		}
	})
}
