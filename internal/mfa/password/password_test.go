package password

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"
)

// fast keeps the tests quick; the parameters are still real argon2id.
var fast = Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestHashVerify(t *testing.T) {
	h, err := Hash("]BkL>3x#T)g~~B#rLv^!T2&N", fast)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^\$argon2id\$v=19\$m=64,t=1,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`).MatchString(h) {
		t.Fatalf("not a PHC string: %s", h)
	}
	for _, tt := range []struct {
		pw   string
		want bool
	}{
		{"]BkL>3x#T)g~~B#rLv^!T2&N", true},
		{"]BkL>3x#T)g~~B#rLv^!T2&n", false},
		{"", false},
		{strings.Repeat("x", MaxLength+1), false},
	} {
		ok, err := Verify(tt.pw, h)
		if err != nil || ok != tt.want {
			t.Errorf("Verify(%.10q) = %v, %v; want %v", tt.pw, ok, err, tt.want)
		}
	}
	h2, _ := Hash("]BkL>3x#T)g~~B#rLv^!T2&N", fast)
	if h == h2 {
		t.Fatal("two hashes of one password are equal: salt not random")
	}
	if _, err := Hash(strings.Repeat("x", MaxLength+1), fast); err == nil {
		t.Fatal("hashed an over-long password")
	}
}

// Vectors from the reference implementation (phc-winner-argon2's `argon2` CLI, e.g.
// `echo -n password | argon2 somesalt -id -t 2 -k 19456 -p 1 -l 32 -e`), so that a change in
// parsing or encoding cannot go unnoticed.
func TestVerifyReferenceVectors(t *testing.T) {
	for _, h := range []string{
		"$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ$cpx6VEQbwTVZvcpxNIxOVUWZ5xnAipUmAe1cg2GMG70",
		"$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$PL01amPyeUuxG7H0vIr5X+qHkZvWnHmGBGXFYvh8z2E",
	} {
		ok, err := Verify("password", h)
		if err != nil || !ok {
			t.Errorf("reference hash %s: %v, %v", h, ok, err)
		}
		if ok, _ := Verify("passwore", h); ok {
			t.Errorf("wrong password matched %s", h)
		}
	}
}

func TestVerifyMalformed(t *testing.T) {
	good, _ := Hash("pw", fast)
	for _, bad := range []string{
		"",
		"pw",
		strings.Replace(good, "argon2id", "argon2i", 1),
		strings.Replace(good, "v=19", "v=16", 1),
		strings.Replace(good, "m=64", "m=99999999", 1), // over the memory bound
		strings.Replace(good, "t=1", "t=0", 1),
		strings.Replace(good, "p=1", "p=300", 1),
		strings.Replace(good, "m=64,t=1,p=1", "m=64,t=1,p=1,x=2", 1),
		good + "$extra",
		good[:len(good)-30] + "!!!",
	} {
		ok, err := Verify("pw", bad)
		if ok || !errors.Is(err, ErrMalformedHash) {
			t.Errorf("Verify with %q = %v, %v; want false, ErrMalformedHash", bad, ok, err)
		}
	}
}

func TestNeedsRehash(t *testing.T) {
	h, _ := Hash("pw", fast)
	if NeedsRehash(h, fast) {
		t.Error("same parameters need rehash")
	}
	if !NeedsRehash(h, DefaultParams) {
		t.Error("weaker parameters do not need rehash")
	}
	if !NeedsRehash("garbage", fast) {
		t.Error("garbage does not need rehash")
	}
}

func TestNewTemporary(t *testing.T) {
	re := regexp.MustCompile(`^enter this: [a-zA-Z0-9_-]{16}$`)
	seen := map[string]bool{}
	for i := 0; i < 50; i++ {
		tmp, err := NewTemporary()
		if err != nil {
			t.Fatal(err)
		}
		if !re.MatchString(TemporaryLine(tmp)) || seen[tmp] {
			t.Fatalf("bad or repeated temporary password %q", tmp)
		}
		seen[tmp] = true
	}
}

func TestAging(t *testing.T) {
	changed := time.Date(2023, 8, 2, 15, 30, 0, 0, time.UTC) // the seed's example
	tests := []struct {
		name    string
		aging   Aging
		now     time.Time
		line    string
		warn    bool
		expired bool
		blocked bool
		change  bool
	}{
		{"seed: set today", DefaultAging, changed.Add(time.Minute), "Your password expires on 2023/10/31, in 89 days", false, false, false, true},
		{"seed: next day", DefaultAging, time.Date(2023, 8, 3, 12, 20, 8, 0, time.UTC), "Your password expires on 2023/10/31, in 88 days", false, false, false, true},
		{"warning window starts", DefaultAging, time.Date(2023, 10, 16, 0, 0, 0, 0, time.UTC), "Your password expires on 2023/10/31, in 15 days", true, false, false, true},
		{"last day", DefaultAging, time.Date(2023, 10, 30, 1, 0, 0, 0, time.UTC), "Your password expires on 2023/10/31, in 0 days", true, false, false, true},
		{"one day", DefaultAging, time.Date(2023, 10, 29, 23, 0, 0, 0, time.UTC), "Your password expires on 2023/10/31, in 1 day", true, false, false, true},
		{"expired, never blocked", DefaultAging, time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC), ExpiredLine, false, true, false, true},
		{"expired, inside inactive period", Aging{MaxDays: 90, InactiveDays: 10}, time.Date(2023, 11, 9, 23, 0, 0, 0, time.UTC), ExpiredLine, false, true, false, true},
		{"expired, blocked", Aging{MaxDays: 90, InactiveDays: 10}, time.Date(2023, 11, 10, 0, 0, 0, 0, time.UTC), ExpiredLine, false, true, true, true},
		{"never expires", Aging{MaxDays: -1, WarnDays: 15}, time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC), "", false, false, false, true},
		{"min days not elapsed", Aging{MinDays: 2, MaxDays: 90}, changed.Add(24 * time.Hour), "Your password expires on 2023/10/31, in 88 days", false, false, false, false},
		{"min days elapsed", Aging{MinDays: 2, MaxDays: 90}, changed.Add(48 * time.Hour), "Your password expires on 2023/10/31, in 87 days", false, false, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.aging.Status(changed, tt.now)
			if got := s.ExpiryLine(); got != tt.line {
				t.Errorf("line %q, want %q", got, tt.line)
			}
			if s.Warn != tt.warn || s.Expired != tt.expired || s.Blocked != tt.blocked || s.CanChange(tt.now) != tt.change {
				t.Errorf("status %+v (can change %v), want warn %v expired %v blocked %v change %v",
					s, s.CanChange(tt.now), tt.warn, tt.expired, tt.blocked, tt.change)
			}
		})
	}
}
