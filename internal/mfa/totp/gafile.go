package totp

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// GAMode is the authentication mode of a google_authenticator file.
type GAMode int

const (
	GAScratchOnly GAMode = iota // neither TOTP_AUTH nor HOTP_COUNTER: only scratch codes work
	GATOTP
	GAHOTP
)

// GAMaxFileSize is libpam's limit on the file size.
const GAMaxFileSize = 64 << 10

// GARateLimit is RATE_LIMIT n m: at most Attempts tries in any Seconds seconds.
type GARateLimit struct {
	Attempts, Seconds int
}

// GAFile is a parsed ~/.google_authenticator file (the format of google-authenticator-libpam).
type GAFile struct {
	Secret        []byte
	Mode          GAMode
	HOTPCounter   int64        // next counter to accept (GAHOTP)
	StepSize      int          // seconds, 1–60, default 30
	WindowSize    int          // 1–100, default 3
	RateLimit     *GARateLimit // nil when absent
	DisallowReuse bool
	UsedSteps     []int64 // DISALLOW_REUSE's list of time steps already used
	TimeSkew      int64   // steps
	ScratchCodes  []string
}

// ParseError locates what is wrong in a google_authenticator file. Line numbers start at 1.
type ParseError struct {
	Line int
	Msg  string
}

func (e *ParseError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("google_authenticator file, line %d: %s", e.Line, e.Msg)
	}
	return "google_authenticator file: " + e.Msg
}

// decodeGABase32 is libpam's lenient base32: case-insensitive; blanks, CR, LF and '-' skipped;
// 0, 1 and 8 read as O, L and B; '=' refused; trailing bits dropped.
func decodeGABase32(s string) ([]byte, error) {
	var out []byte
	var buf uint32
	var bits int
	for i := 0; i < len(s); i++ {
		c := s[i]
		var v byte
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '-':
			continue
		case c >= 'A' && c <= 'Z':
			v = c - 'A'
		case c >= 'a' && c <= 'z':
			v = c - 'a'
		case c >= '2' && c <= '7':
			v = c - '2' + 26
		case c == '0':
			v = 'O' - 'A'
		case c == '1':
			v = 'L' - 'A'
		case c == '8':
			v = 'B' - 'A'
		default:
			return nil, fmt.Errorf("character %q at column %d is not base32", c, i+1)
		}
		buf = buf<<5 | uint32(v)
		bits += 5
		if bits >= 8 {
			bits -= 8
			out = append(out, byte(buf>>bits))
			buf &= 1<<bits - 1
		}
	}
	return out, nil
}

func parseInt(field string, lo, hi int64) (int64, error) {
	v, err := strconv.ParseInt(field, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", field)
	}
	if v < lo || v > hi {
		return 0, fmt.Errorf("%d is out of range %d–%d", v, lo, hi)
	}
	return v, nil
}

// ParseGoogleAuthenticator parses the content of a ~/.google_authenticator file. Any invalid
// option value is an error (libpam would fail the login on it, so importing it would only
// lock the person out later); the error says which line to fix.
func ParseGoogleAuthenticator(data []byte) (*GAFile, error) {
	if len(data) == 0 {
		return nil, &ParseError{Msg: "file is empty"}
	}
	if len(data) > GAMaxFileSize {
		return nil, &ParseError{Msg: fmt.Sprintf("file is %d bytes, more than the %d allowed", len(data), GAMaxFileSize)}
	}
	if i := bytes.IndexByte(data, 0); i >= 0 {
		return nil, &ParseError{Line: bytes.Count(data[:i], []byte("\n")) + 1, Msg: "contains a NUL byte"}
	}
	lines := strings.Split(string(data), "\n")
	f := &GAFile{StepSize: 30, WindowSize: 3}

	secret, err := decodeGABase32(lines[0])
	if err != nil {
		return nil, &ParseError{Line: 1, Msg: "secret: " + err.Error()}
	}
	if len(secret) < 10 {
		return nil, &ParseError{Line: 1, Msg: fmt.Sprintf("secret is %d bits, fewer than the 80 required", len(secret)*8)}
	}
	f.Secret = secret

	seen := map[string]bool{}
	var totp, hotp bool
	for i, raw := range lines[1:] {
		n := i + 2
		line := strings.TrimRight(raw, "\r")
		switch {
		case strings.TrimSpace(line) == "":
			continue
		case strings.HasPrefix(line, "\" "):
			key, value, _ := strings.Cut(line[2:], " ")
			key, _, _ = strings.Cut(key, "\t")
			if seen[key] {
				continue // the first occurrence wins, as in libpam
			}
			seen[key] = true
			if err := f.option(key, strings.TrimLeft(value, " \t"), &totp, &hotp); err != nil {
				return nil, &ParseError{Line: n, Msg: key + ": " + err.Error()}
			}
		case strings.HasPrefix(line, "\""):
			continue // a comment-like line, skipped by libpam's scratch code reader
		default:
			code := strings.TrimSpace(line)
			if !IsScratchCode(code) {
				return nil, &ParseError{Line: n, Msg: fmt.Sprintf("%q is neither an option line (starting with '\" ') nor a scratch code (8 digits, the first not 0)", truncate(code, 20))}
			}
			f.ScratchCodes = append(f.ScratchCodes, code)
		}
	}
	switch {
	case hotp:
		f.Mode = GAHOTP
	case totp:
		f.Mode = GATOTP
	default:
		f.Mode = GAScratchOnly
	}
	return f, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func (f *GAFile) option(key, value string, totp, hotp *bool) error {
	fields := strings.Fields(value)
	one := func(lo, hi int64) (int64, error) {
		if len(fields) != 1 {
			return 0, fmt.Errorf("want one number, got %d fields", len(fields))
		}
		return parseInt(fields[0], lo, hi)
	}
	switch key {
	case "TOTP_AUTH":
		*totp = true
	case "HOTP_COUNTER":
		v, err := one(1, 1<<62)
		if err != nil {
			return err
		}
		f.HOTPCounter, *hotp = v, true
	case "STEP_SIZE":
		v, err := one(1, 60)
		if err != nil {
			return err
		}
		f.StepSize = int(v)
	case "WINDOW_SIZE":
		v, err := one(1, 100)
		if err != nil {
			return err
		}
		f.WindowSize = int(v)
	case "TIME_SKEW":
		v, err := one(-1<<20, 1<<20)
		if err != nil {
			return err
		}
		f.TimeSkew = v
	case "RATE_LIMIT":
		if len(fields) < 2 {
			return fmt.Errorf("want \"attempts seconds [timestamps…]\"")
		}
		a, err := parseInt(fields[0], 1, 100)
		if err != nil {
			return fmt.Errorf("attempts: %w", err)
		}
		s, err := parseInt(fields[1], 1, 3600)
		if err != nil {
			return fmt.Errorf("seconds: %w", err)
		}
		for _, ts := range fields[2:] { // libpam's own state; checked, then dropped
			if _, err := parseInt(ts, 0, 1<<62); err != nil {
				return fmt.Errorf("timestamp: %w", err)
			}
		}
		f.RateLimit = &GARateLimit{Attempts: int(a), Seconds: int(s)}
	case "DISALLOW_REUSE":
		f.DisallowReuse = true
		for _, st := range fields {
			v, err := parseInt(st, 0, 1<<62)
			if err != nil {
				return fmt.Errorf("used step: %w", err)
			}
			f.UsedSteps = append(f.UsedSteps, v)
		}
	}
	// Other keys (RESETTING_TIME_SKEW, LAST0…LAST9, future ones) are libpam's internal state
	// and are ignored, as libpam ignores keys it does not know.
	return nil
}

// Key returns the OTP key the file describes, and false for a scratch-only file.
// Codes are always HMAC-SHA1 with 6 digits: libpam supports nothing else.
func (f *GAFile) Key() (Key, bool) {
	switch f.Mode {
	case GATOTP:
		w := WindowFromSize(f.WindowSize)
		return Key{Secret: f.Secret, Kind: KindTOTP, Algorithm: SHA1, Digits: 6,
			Period: int64(f.StepSize), Window: &w, Skew: f.TimeSkew}, true
	case GAHOTP:
		w := Window{Behind: 0, Ahead: f.WindowSize - 1} // counters C … C+n-1
		return Key{Secret: f.Secret, Kind: KindHOTP, Algorithm: SHA1, Digits: 6,
			Window: &w, Counter: f.HOTPCounter}, true
	}
	return Key{}, false
}

// LastUsedStep is the step (or HOTP counter) to seed the StepStore with at import, so that codes
// already used on the old system are refused here, or false when there is none.
func (f *GAFile) LastUsedStep() (int64, bool) {
	switch f.Mode {
	case GAHOTP:
		return f.HOTPCounter - 1, f.HOTPCounter > 1
	case GATOTP:
		if len(f.UsedSteps) == 0 {
			return 0, false
		}
		return maxStep(f.UsedSteps), true
	}
	return 0, false
}

func maxStep(steps []int64) int64 {
	m := steps[0]
	for _, v := range steps[1:] {
		m = max(m, v)
	}
	return m
}

// Format writes f in libpam's layout (secret, options, scratch codes).
func (f *GAFile) Format() []byte {
	var b bytes.Buffer
	b.WriteString(EncodeSecret(f.Secret) + "\n")
	if f.RateLimit != nil {
		fmt.Fprintf(&b, "\" RATE_LIMIT %d %d\n", f.RateLimit.Attempts, f.RateLimit.Seconds)
	}
	fmt.Fprintf(&b, "\" WINDOW_SIZE %d\n", f.WindowSize)
	if f.StepSize != 30 {
		fmt.Fprintf(&b, "\" STEP_SIZE %d\n", f.StepSize)
	}
	if f.TimeSkew != 0 {
		fmt.Fprintf(&b, "\" TIME_SKEW %d\n", f.TimeSkew)
	}
	if f.DisallowReuse {
		b.WriteString("\" DISALLOW_REUSE")
		for _, s := range f.UsedSteps {
			fmt.Fprintf(&b, " %d", s)
		}
		b.WriteString("\n")
	}
	switch f.Mode {
	case GATOTP:
		b.WriteString("\" TOTP_AUTH\n")
	case GAHOTP:
		fmt.Fprintf(&b, "\" HOTP_COUNTER %d\n", f.HOTPCounter)
	}
	for _, c := range f.ScratchCodes {
		b.WriteString(c + "\n")
	}
	return b.Bytes()
}
