package osh

import (
	"fmt"
	"time"
)

// HumanDuration writes a duration as The Bastion shows durations to people and in its
// messages: "00:00:15" under a day, "3d+04:05:06" beyond. A negative one counts as zero.
func HumanDuration(d time.Duration) string {
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

// AnyOr is what a list column shows: the values, or "*" where nothing restricts it (any user,
// any port), as The Bastion's lists do.
func AnyOr(v string) string {
	if v == "" {
		return "*"
	}
	return v
}
