package access

import "time"

// IdleTimeouts are the idle lock and kill delays of a session; 0 disables.
type IdleTimeouts struct {
	Lock, Kill time.Duration
}

// CombineIdle applies The Bastion's rule (osh.pl) to the grants of a
// decision, starting from the global values:
//   - group grants whose matching entry is a catch-all (/0) are ignored, as
//     are personal grants and groups that do not override (nil);
//   - no override: the global value;
//   - exactly one override: it applies as is (0 disables even if the global
//     value is set);
//   - several: the smallest positive value among them and the global one,
//     or 0 when none is positive.
func CombineIdle(global IdleTimeouts, grants []Grant) IdleTimeouts {
	var locks, kills []time.Duration
	for _, g := range grants {
		if g.Kind == KindPersonal || g.CatchAll {
			continue
		}
		if g.IdleLock != nil {
			locks = append(locks, *g.IdleLock)
		}
		if g.IdleKill != nil {
			kills = append(kills, *g.IdleKill)
		}
	}
	return IdleTimeouts{Lock: combine(global.Lock, locks), Kill: combine(global.Kill, kills)}
}

func combine(global time.Duration, overrides []time.Duration) time.Duration {
	switch len(overrides) {
	case 0:
		return global
	case 1:
		return overrides[0]
	}
	best := time.Duration(0)
	for _, v := range append(overrides, global) {
		if v > 0 && (best == 0 || v < best) {
			best = v
		}
	}
	return best
}
