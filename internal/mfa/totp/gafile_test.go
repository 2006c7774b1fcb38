package totp

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

const gaTypical = `JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP
" RATE_LIMIT 3 30 1700000000 1700000012
" WINDOW_SIZE 17
" DISALLOW_REUSE 56666666 56666667
" TOTP_AUTH
12345678
87654321
`

func TestParseGoogleAuthenticator(t *testing.T) {
	f, err := ParseGoogleAuthenticator([]byte(gaTypical))
	if err != nil {
		t.Fatal(err)
	}
	want := &GAFile{
		Secret:        mustDecode(t, "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"),
		Mode:          GATOTP,
		StepSize:      30,
		WindowSize:    17,
		RateLimit:     &GARateLimit{Attempts: 3, Seconds: 30},
		DisallowReuse: true,
		UsedSteps:     []int64{56666666, 56666667},
		ScratchCodes:  []string{"12345678", "87654321"},
	}
	if !reflect.DeepEqual(f, want) {
		t.Fatalf("got  %+v\nwant %+v", f, want)
	}
	key, ok := f.Key()
	if !ok || key.Kind != KindTOTP || *key.Window != (Window{Behind: 8, Ahead: 8}) || key.Period != 30 {
		t.Fatalf("key %+v", key)
	}
	if last, ok := f.LastUsedStep(); !ok || last != 56666667 {
		t.Fatalf("LastUsedStep = %d, %v", last, ok)
	}
}

func mustDecode(t *testing.T, s string) []byte {
	t.Helper()
	b, err := DecodeSecret(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseGoogleAuthenticatorVariants(t *testing.T) {
	secret := "JBSWY3DPEHPK3PXP"
	tests := []struct {
		name  string
		file  string
		check func(*testing.T, *GAFile)
	}{
		{"lenient secret: lower case, spaces, dashes, 0/1/8, CRLF", "jbsw y3dp-ehpk3pxp\r\n\" TOTP_AUTH\r\n", func(t *testing.T, f *GAFile) {
			if EncodeSecret(f.Secret) != secret || f.Mode != GATOTP {
				t.Errorf("secret %s mode %d", EncodeSecret(f.Secret), f.Mode)
			}
		}},
		{"digits mapped like libpam", "JBSWY3DPEHPK3PXP0018\n", func(t *testing.T, f *GAFile) {
			if !bytes.Equal(f.Secret, mustDecode(t, "JBSWY3DPEHPK3PXPOOLB")) {
				t.Error("0, 1, 8 not read as O, L, B")
			}
		}},
		{"scratch only", secret + "\n11111111\n", func(t *testing.T, f *GAFile) {
			if f.Mode != GAScratchOnly {
				t.Errorf("mode %d", f.Mode)
			}
			if _, ok := f.Key(); ok {
				t.Error("scratch-only file gave a key")
			}
		}},
		{"HOTP wins over TOTP", secret + "\n\" HOTP_COUNTER 5\n\" TOTP_AUTH\n\" WINDOW_SIZE 4\n", func(t *testing.T, f *GAFile) {
			k, _ := f.Key()
			if f.Mode != GAHOTP || k.Kind != KindHOTP || k.Counter != 5 || *k.Window != (Window{Ahead: 3}) {
				t.Errorf("key %+v", k)
			}
			if last, ok := f.LastUsedStep(); !ok || last != 4 {
				t.Errorf("last %d", last)
			}
		}},
		{"first occurrence wins", secret + "\n\" WINDOW_SIZE 5\n\" WINDOW_SIZE 9\n\" TOTP_AUTH\n", func(t *testing.T, f *GAFile) {
			if f.WindowSize != 5 {
				t.Errorf("window %d", f.WindowSize)
			}
		}},
		{"step size and skew", secret + "\n\" STEP_SIZE 60\n\" TIME_SKEW -2\n\" TOTP_AUTH\n", func(t *testing.T, f *GAFile) {
			k, _ := f.Key()
			if k.Period != 60 || k.Skew != -2 || *k.Window != (Window{Behind: 1, Ahead: 1}) {
				t.Errorf("key %+v", k)
			}
		}},
		{"internal keys ignored", secret + "\n\" RESETTING_TIME_SKEW 1+2 3+4\n\" LAST0 1.2.3.4 1700000000\n\" TOTP_AUTH\n", nil},
		{"options after scratch codes", secret + "\n12345678\n\" TOTP_AUTH\n", func(t *testing.T, f *GAFile) {
			if f.Mode != GATOTP || len(f.ScratchCodes) != 1 {
				t.Errorf("%+v", f)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := ParseGoogleAuthenticator([]byte(tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if tt.check != nil {
				tt.check(t, f)
			}
		})
	}
}

func TestParseGoogleAuthenticatorErrors(t *testing.T) {
	s := "JBSWY3DPEHPK3PXP\n"
	tests := []struct {
		name, file string
		line       int
		msg        string
	}{
		{"empty", "", 0, "empty"},
		{"padded secret", "JBSWY3DPEHPK3PXP====\n", 1, "not base32"},
		{"short secret", "JBSWY3DP\n", 1, "fewer than the 80"},
		{"NUL byte", s + "\" TOTP_AUTH\n1234\x005678\n", 3, "NUL"},
		{"step size too big", s + "\" STEP_SIZE 61\n", 2, "STEP_SIZE"},
		{"step size not a number", s + "\" TOTP_AUTH\n\" STEP_SIZE thirty\n", 3, "not a number"},
		{"window zero", s + "\" WINDOW_SIZE 0\n", 2, "out of range"},
		{"rate limit missing seconds", s + "\" RATE_LIMIT 3\n", 2, "RATE_LIMIT"},
		{"rate limit seconds too big", s + "\" RATE_LIMIT 3 3601\n", 2, "seconds"},
		{"hotp counter zero", s + "\" HOTP_COUNTER 0\n", 2, "HOTP_COUNTER"},
		{"bad reuse list", s + "\" DISALLOW_REUSE 1 x\n", 2, "used step"},
		{"six-digit line", s + "\" TOTP_AUTH\n123456\n", 3, "scratch code"},
		{"scratch code starting with 0", s + "01234567\n", 2, "scratch code"},
		{"garbage", s + "hello\n", 2, "neither"},
		{"too big", s + strings.Repeat("\n", GAMaxFileSize), 0, "more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseGoogleAuthenticator([]byte(tt.file))
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want a *ParseError", err)
			}
			if pe.Line != tt.line || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("err = %v (line %d), want line %d mentioning %q", err, pe.Line, tt.line, tt.msg)
			}
		})
	}
}

// An imported file keeps the person's phone working: codes that libpam would accept are accepted,
// and steps listed in DISALLOW_REUSE are refused.
func TestImportedKeyVerifies(t *testing.T) {
	f, err := ParseGoogleAuthenticator([]byte("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP\n\" WINDOW_SIZE 5\n\" TOTP_AUTH\n"))
	if err != nil {
		t.Fatal(err)
	}
	key, _ := f.Key()
	now := time.Unix(1_700_000_000, 0)
	steps := &MemStepStore{}
	v := &Verifier{Steps: steps, Now: func() time.Time { return now }}
	old, _ := Code(key, now.Add(-60*time.Second)) // 2 steps back: inside WINDOW_SIZE 5 (±2)
	if _, err := v.Verify(context.Background(), "alice", key, old); err != nil {
		t.Fatalf("code 2 steps back refused with WINDOW_SIZE 5: %v", err)
	}
	tooOld, _ := Code(key, now.Add(-90*time.Second))
	steps.Reset("alice")
	if _, err := v.Verify(context.Background(), "alice", key, tooOld); !errors.Is(err, ErrInvalidCode) {
		t.Fatalf("code 3 steps back: %v", err)
	}
}

func TestGAFileFormatRoundTrip(t *testing.T) {
	f, err := ParseGoogleAuthenticator([]byte(gaTypical))
	if err != nil {
		t.Fatal(err)
	}
	g, err := ParseGoogleAuthenticator(f.Format())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(f, g) {
		t.Fatalf("round trip changed the file:\n%+v\n%+v", f, g)
	}
}

func FuzzParseGoogleAuthenticator(f *testing.F) {
	f.Add([]byte(gaTypical))
	f.Add([]byte("JBSWY3DPEHPK3PXP\n\" HOTP_COUNTER 1\n\" WINDOW_SIZE 3\n11111111\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := ParseGoogleAuthenticator(data)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error of type %T, want *ParseError: %v", err, err)
			}
			return
		}
		if len(file.Secret) < 10 || file.StepSize < 1 || file.StepSize > 60 || file.WindowSize < 1 || file.WindowSize > 100 {
			t.Fatalf("accepted out-of-range file: %+v", file)
		}
		for _, c := range file.ScratchCodes {
			if !IsScratchCode(c) {
				t.Fatalf("accepted scratch code %q", c)
			}
		}
		if key, ok := file.Key(); ok {
			w := key.Window
			if w == nil || w.Behind < 0 || w.Ahead < 0 || w.Behind+w.Ahead > 99 {
				t.Fatalf("bad window %+v", w)
			}
		}
		again, err := ParseGoogleAuthenticator(file.Format())
		if err != nil {
			t.Fatalf("Format output does not parse: %v\n%s", err, file.Format())
		}
		if !reflect.DeepEqual(file, again) {
			t.Fatalf("round trip changed the file:\n%+v\n%+v", file, again)
		}
	})
}
