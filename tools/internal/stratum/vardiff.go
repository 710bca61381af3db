package stratum

import (
	"math"
	"time"
)

// Vardiff is the share difficulty policy: each connection's difficulty is
// moved towards one share every TargetInterval, so a CPU miner and an ASIC
// both send a steady trickle the server can afford to check.
type Vardiff struct {
	Start, Min, Max float64
	TargetInterval  time.Duration
	// RetargetAfter is the least time between changes; a change is also
	// made after MaxSharesPerRetarget shares, so a miner far too strong
	// for its difficulty is corrected at once.
	RetargetAfter        time.Duration
	MaxSharesPerRetarget int
}

// clamp keeps d within the policy's bounds.
func (v Vardiff) clamp(d float64) float64 {
	if v.Min > 0 && d < v.Min {
		d = v.Min
	}
	if v.Max > 0 && d > v.Max {
		d = v.Max
	}
	return d
}

// vardiffState is one connection's share count since its last change.
type vardiffState struct {
	since  time.Time
	shares int
}

// next returns the difficulty to move to, and whether to move at all,
// after a share (shareDone) or on a periodic look (to lower the
// difficulty of a miner that has gone quiet).
func (v Vardiff) next(st *vardiffState, current float64, now time.Time) (float64, bool) {
	if v.TargetInterval <= 0 {
		return current, false
	}
	elapsed := now.Sub(st.since)
	if st.shares < v.MaxSharesPerRetarget && elapsed < v.RetargetAfter {
		return current, false
	}
	var ratio float64
	if st.shares == 0 {
		// Quiet for RetargetAfter: at least halve, more the longer it is.
		ratio = math.Min(0.5, float64(v.TargetInterval)/float64(elapsed))
	} else {
		perShare := elapsed / time.Duration(st.shares)
		ratio = float64(v.TargetInterval) / float64(max(perShare, time.Millisecond))
	}
	// Within 30% of the target is close enough: every change costs the
	// miner a restart of its work.
	if ratio > 0.7 && ratio < 1.4 {
		st.since, st.shares = now, 0
		return current, false
	}
	ratio = math.Max(0.25, math.Min(4, ratio))
	next := v.clamp(current * ratio)
	st.since, st.shares = now, 0
	return next, next != current
}

// nextIfQuiet is next for the periodic look: it acts only once
// RetargetAfter has passed, which for a miner that sends shares has
// usually happened on a share already.
func (v Vardiff) nextIfQuiet(st *vardiffState, current float64, now time.Time) (float64, bool) {
	if now.Sub(st.since) < v.RetargetAfter {
		return current, false
	}
	return v.next(st, current, now)
}
