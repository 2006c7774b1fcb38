package restricted

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/config"
	"gatehouse/internal/osh"
	"gatehouse/internal/store"
)

func TestPasswordInfo(t *testing.T) {
	changed := time.Date(2026, 11, 20, 23, 59, 0, 0, time.UTC)
	set := store.MFACredentials{PasswordHash: "$argon2id$secret", PasswordChanged: changed}
	cfg := func(min, max, warn, inactive int) *config.Config {
		c := config.Default()
		c.MFAPasswordMinDays, c.MFAPasswordMaxDays, c.MFAPasswordWarnDays, c.MFAPasswordInactiveDays = min, max, warn, inactive
		return &c
	}
	for _, tc := range []struct {
		m     store.MFACredentials
		cfg   *config.Config
		want  string
		lines []string
	}{
		{store.MFACredentials{}, cfg(0, 90, 15, -1),
			"date_changed=<nil> date_changed_timestamp=0 inactive_days=-1 max_days=90 min_days=0 password=locked user=bob warn_days=15",
			[]string{"- No valid password is set"}},
		{store.MFACredentials{PasswordHash: "x", PasswordTemporary: true}, cfg(0, 90, 15, -1),
			"date_changed=<nil> date_changed_timestamp=0 inactive_days=-1 max_days=90 min_days=0 password=locked user=bob warn_days=15", nil},
		{set, cfg(0, 0, 15, -1),
			"date_changed=2026-11-20 date_changed_timestamp=1795132800 inactive_days=-1 max_days=-1 min_days=0 password=set user=bob warn_days=15",
			[]string{"- Password is set", "- Password was last changed on 2026-11-20", "- Password will never expire"}},
		{set, cfg(1, 30, 5, 7),
			"date_changed=2026-11-20 date_changed_timestamp=1795132800 inactive_days=7 max_days=30 min_days=1 password=set user=bob warn_days=5",
			[]string{"- Password must be changed every 30 days at least", "- A warning is displayed 5 days before expiration",
				"- The minimum time between two password changes is 1 days", "- Account will be disabled 7 days after password expiration"}},
		{set, cfg(0, 30, 5, -1), "", []string{"- Account will not be disabled after password expiration"}},
	} {
		v := PasswordInfo("bob", tc.m, tc.cfg)
		var kv []string
		for _, k := range []string{"date_changed", "date_changed_timestamp", "inactive_days", "max_days", "min_days", "password", "user", "warn_days"} {
			kv = append(kv, fmt.Sprintf("%s=%v", k, v[k]))
		}
		if got := strings.Join(kv, " "); tc.want != "" && got != tc.want {
			t.Errorf("got  %s\nwant %s", got, tc.want)
		}
		var out strings.Builder
		passwordInfoLines(&osh.Printer{W: &out, Quiet: true}, v)
		for _, l := range tc.lines {
			if !strings.Contains(out.String(), l+"\n") {
				t.Errorf("no %q in\n%s", l, out.String())
			}
		}
		if strings.Contains(fmt.Sprint(v), "argon2") || strings.Contains(out.String(), "argon2") {
			t.Fatal("the hash leaked")
		}
	}
}

// TestAppendPasswordInfo: the password information accountInfo --all writes for every account
// from MFAConfigured (appendPasswordInfo) is the bytes accountInfo --account encodes from the
// account's factors (PasswordInfo), over the password states and the aging settings.
func TestAppendPasswordInfo(t *testing.T) {
	changed := time.Date(2026, 11, 20, 23, 59, 0, 0, time.FixedZone("x", 3600))
	n := 0
	for _, m := range []store.MFACredentials{{}, {PasswordHash: "h", PasswordChanged: changed}, {PasswordHash: "h"},
		{PasswordHash: "h", PasswordChanged: changed, PasswordTemporary: true}, {TOTPSet: true}} {
		for _, days := range [][4]int{{0, 0, 0, 0}, {0, 90, 15, -1}, {1, 30, 7, 10}, {2, -1, 0, -5}, {0, 0, 3, 0}} {
			for _, user := range []string{"bob", `a"<é>`} {
				c := config.Default()
				c.MFAPasswordMinDays, c.MFAPasswordMaxDays, c.MFAPasswordWarnDays, c.MFAPasswordInactiveDays = days[0], days[1], days[2], days[3]
				want, err := rawJSON(PasswordInfo(user, m, &c))
				if err != nil {
					t.Fatal(err)
				}
				set := m.PasswordHash != "" && !m.PasswordTemporary
				mc := store.MFAConfigured{Password: set, TOTP: m.TOTPSet}
				if set {
					mc.PasswordChanged = m.PasswordChanged
				}
				if got := appendPasswordInfo(nil, user, mc, &c); string(got) != string(want) {
					t.Fatalf("%+v %v %s:\n got %s\nwant %s", m, days, user, got, want)
				}
				n++
			}
		}
	}
	if n != 50 {
		t.Fatal(n)
	}
}
