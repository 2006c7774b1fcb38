package osh

import (
	"fmt"
	"testing"
	"time"
)

func TestHumanDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "00:00:00", 15 * time.Second: "00:00:15", 90 * time.Minute: "01:30:00", 24*time.Hour - time.Second: "23:59:59",
		24 * time.Hour: "1d+00:00:00", 3*24*time.Hour + 4*time.Hour + 5*time.Minute + 6*time.Second: "3d+04:05:06",
		-time.Hour: "00:00:00", 1500 * time.Millisecond: "00:00:01",
	} {
		if got := HumanDuration(d); got != want {
			t.Errorf("HumanDuration(%v) = %q, want %q", d, got, want)
		}
	}
	if AnyOr("") != "*" || AnyOr("root") != "root" {
		t.Error("AnyOr")
	}
}

// TestHumanDurationAsSprintf: the appending HumanDuration (issue 14) writes what the fmt one
// wrote, from 0 to beyond 100 days, negative included.
func TestHumanDurationAsSprintf(t *testing.T) {
	old := func(d time.Duration) string {
		if d < 0 {
			d = 0
		}
		s := int64(d / time.Second)
		days, s := s/86400, s%86400
		hms := fmt.Sprintf("%02d:%02d:%02d", s/3600, s/60%60, s%60)
		if days > 0 {
			return fmt.Sprintf("%dd+%s", days, hms)
		}
		return hms
	}
	for d := -time.Hour; d < 120*24*time.Hour; d += 7919 * time.Second {
		for _, x := range []time.Duration{d, d + 999*time.Millisecond, d + 59*time.Second} {
			if got, want := HumanDuration(x), old(x); got != want {
				t.Fatalf("%v: %q, want %q", x, got, want)
			}
		}
	}
}
