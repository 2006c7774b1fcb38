package osh

import (
	"strings"
	"testing"
	"time"
)

// TestParseDurationBounds: a duration is its value or an error, never a wrapped-around number
// (600y used to give 15 years and 1000y a negative duration).
func TestParseDurationBounds(t *testing.T) {
	const year = 365 * 24 * time.Hour
	for _, tc := range []struct {
		in   string
		want time.Duration
		err  string
	}{
		{"3600", time.Hour, ""},
		{"0", 0, ""},
		{"1d12h", 36 * time.Hour, ""},
		{"1w2d3h4m5s", 9*24*time.Hour + 3*time.Hour + 4*time.Minute + 5*time.Second, ""},
		{"100y", 100 * year, ""},
		{"99y52w", 99*year + 52*7*24*time.Hour, ""},
		{"3153600000", 100 * year, ""},
		{"101y", 0, "out of range"},
		{"600y", 0, "out of range"},
		{"1000y", 0, "out of range"},
		{"9223372036854775807s", 0, "out of range"},
		{"99999999999999999999s", 0, "out of range"},
		{"99999999999999999999", 0, "out of range"},
		{"3153600001", 0, "out of range"},
		{"100y1s", 0, "out of range"},
		{"50y50y1s", 0, "out of range"},
		{"60y60y", 0, "out of range"},
		{"5214w1w", 0, "out of range"},  // 5215 weeks > 100 years of 365 days
		{"2562047h", 0, "out of range"}, // time.Duration's own limit in hours
		{"-5", 0, "invalid"},
		{"+5", 0, "invalid"},
		{"1x", 0, "invalid"},
		{"d", 0, "invalid"},
		{"1d2", 0, "invalid"},
		{"", 0, "empty"},
	} {
		got, err := ParseDuration(tc.in)
		if tc.err == "" {
			if err != nil || got != tc.want {
				t.Errorf("ParseDuration(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("ParseDuration(%q) = %v, %v; want an error with %q", tc.in, got, err, tc.err)
		}
	}
}

// FuzzParseDuration: whatever a user types, the result is an error or a duration between 0 and
// 100 years.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"3600", "1d12h", "600y", "1000y", "100y", "9223372036854775807s", "1w2d3h4m5s", "", "y", "00000000000000000000001s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			return
		}
		if d < 0 || d > maxDuration {
			t.Fatalf("ParseDuration(%q) = %v, outside 0..100y", s, d)
		}
	})
}
