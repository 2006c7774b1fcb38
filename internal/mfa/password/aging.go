package password

import (
	"fmt"
	"time"
)

// Aging is The Bastion's password policy (bastion.conf MFAPassword*), with chage/shadow(5)
// meanings. Days are whole UTC days counted from the day of the last change, as shadow stores them.
type Aging struct {
	MinDays      int // days before the password may be changed again; ≤ 0: any time
	MaxDays      int // days a password is valid; < 0: never expires
	WarnDays     int // days before expiry when Warn is set; ≤ 0: never
	InactiveDays int // days after expiry before the account is blocked; < 0: never blocked
}

// DefaultAging is The Bastion's default: MinDays 0, MaxDays 90, WarnDays 15, InactiveDays -1.
var DefaultAging = Aging{MinDays: 0, MaxDays: 90, WarnDays: 15, InactiveDays: -1}

// Status is where a password stands in its life at one instant.
type Status struct {
	ExpiresAt   time.Time // zero when the password never expires
	DaysLeft    int       // whole days until ExpiresAt (rounded down); negative once expired
	Warn        bool      // within WarnDays of expiry and not yet expired
	Expired     bool      // the owner must change it before doing anything else
	Blocked     bool      // expired for more than InactiveDays: refuse the login
	CanChangeAt time.Time // before this instant a change is refused (MinDays)
}

const day = 24 * time.Hour

func utcDay(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// Status computes the state of a password last changed at lastChanged, at instant now.
func (a Aging) Status(lastChanged, now time.Time) Status {
	base := utcDay(lastChanged)
	s := Status{CanChangeAt: base}
	if a.MinDays > 0 {
		s.CanChangeAt = base.AddDate(0, 0, a.MinDays)
	}
	if a.MaxDays < 0 {
		return s
	}
	s.ExpiresAt = base.AddDate(0, 0, a.MaxDays)
	left := s.ExpiresAt.Sub(now)
	s.DaysLeft = int(left / day)
	if left < 0 && left%day != 0 {
		s.DaysLeft-- // round down, also below zero
	}
	s.Expired = !now.Before(s.ExpiresAt)
	s.Warn = !s.Expired && a.WarnDays > 0 && !now.Before(s.ExpiresAt.AddDate(0, 0, -a.WarnDays))
	s.Blocked = s.Expired && a.InactiveDays >= 0 && !now.Before(s.ExpiresAt.AddDate(0, 0, a.InactiveDays))
	if s.Expired {
		s.CanChangeAt = base // an expired password may always be replaced
	}
	return s
}

// CanChange reports whether the password may be changed at now (MinDays elapsed, or expired).
func (s Status) CanChange(now time.Time) bool { return !now.Before(s.CanChangeAt) }

// ExpiryLine is the line shown before every password prompt, as The Bastion shows it
// ("Your password expires on 2023/10/31, in 89 days"), or "" when the password never expires.
func (s Status) ExpiryLine() string {
	switch {
	case s.ExpiresAt.IsZero():
		return ""
	case s.Expired:
		return ExpiredLine
	case s.DaysLeft == 1:
		return fmt.Sprintf("Your password expires on %s, in 1 day", s.ExpiresAt.Format("2006/01/02"))
	}
	return fmt.Sprintf("Your password expires on %s, in %d days", s.ExpiresAt.Format("2006/01/02"), s.DaysLeft)
}

// Lines pam_unix prints for an expired password and a blocked account.
const (
	ExpiredLine = "You are required to change your password immediately (password aged)"
	BlockedLine = "Your account has expired; please contact your system administrator"
)
