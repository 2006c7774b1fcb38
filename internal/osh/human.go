package osh

import (
	"strconv"
	"time"
)

// HumanDuration writes a duration as The Bastion shows durations to people and in its
// messages: "00:00:15" under a day, "3d+04:05:06" beyond. A negative one counts as zero.
func HumanDuration(d time.Duration) string {
	var buf [32]byte
	return string(AppendHumanDuration(buf[:0], d))
}

// AppendHumanDuration appends HumanDuration(d) to b (a listing makes 10,000, issue 14).
func AppendHumanDuration(b []byte, d time.Duration) []byte {
	if d < 0 {
		d = 0
	}
	s := int64(d / time.Second)
	days, s := s/86400, s%86400
	if days > 0 {
		b = append(strconv.AppendInt(b, days, 10), "d+"...)
	}
	two := func(b []byte, n int64) []byte {
		if n < 10 {
			b = append(b, '0')
		}
		return strconv.AppendInt(b, n, 10)
	}
	b = append(two(b, s/3600), ':')
	b = append(two(b, s/60%60), ':')
	return two(b, s%60)
}

// AnyOr is what a list column shows: the values, or "*" where nothing restricts it (any user,
// any port), as The Bastion's lists do.
func AnyOr(v string) string {
	if v == "" {
		return "*"
	}
	return v
}
