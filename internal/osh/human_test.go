package osh

import (
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
