package poolweb

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// hashrateUnits are the units a hashrate is written in, 1000 apart.
var hashrateUnits = []string{"H/s", "kH/s", "MH/s", "GH/s", "TH/s", "PH/s", "EH/s"}

// hashrateUnit is the largest unit of hashrateUnits at most v (H/s for
// v < 1000) and its size in H/s.
func hashrateUnit(v float64) (string, float64) {
	i, size := 0, 1.0
	for i < len(hashrateUnits)-1 && math.Abs(v) >= size*1000 {
		i++
		size *= 1000
	}
	return hashrateUnits[i], size
}

// formatHashrate writes v H/s with three significant figures in the
// largest unit it fills: "0 H/s", "999 H/s", "1.23 MH/s". What is not
// a finite rate at least 0 is "n/a".
func formatHashrate(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return "n/a"
	}
	unit, size := hashrateUnit(v)
	return significant(v/size, 3) + " " + unit
}

// significant writes v with n significant figures, without exponent or
// trailing zeros: 1.5, 12.3, 999.
func significant(v float64, n int) string {
	if v == 0 {
		return "0"
	}
	digits := n - 1 - int(math.Floor(math.Log10(math.Abs(v))))
	digits = max(digits, 0)
	s := strconv.FormatFloat(v, 'f', digits, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// siSuffixes name powers of 1000 for large numbers (difficulties).
var siSuffixes = []string{"", " k", " M", " G", " T", " P", " E"}

// formatLarge writes a large number with three significant figures and
// a power of 1000: 15.3, 27.1 M, 1.2 G; "n/a" when not finite.
func formatLarge(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "n/a"
	}
	i := 0
	for i < len(siSuffixes)-1 && math.Abs(v) >= 1000 {
		v /= 1000
		i++
	}
	return significant(v, 3) + siSuffixes[i]
}

// formatPercent writes a fraction as a percentage with at most one
// decimal: 0.374 is "37.4 %".
func formatPercent(f float64) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "n/a"
	}
	return strings.TrimSuffix(strconv.FormatFloat(f*100, 'f', 1, 64), ".0") + " %"
}

// timeLayout is how pages write an instant: UTC, to the minute.
const timeLayout = "2006-01-02 15:04 UTC"

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format(timeLayout)
}

// formatAgo says how long before now t was, in its two largest units:
// "just now", "5 min ago", "2 h 5 min ago", "3 d 4 h ago"; "in the
// future" for clocks that disagree.
func formatAgo(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		return "in the future"
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + " min ago"
	case d < 24*time.Hour:
		h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
		if m == 0 {
			return strconv.Itoa(h) + " h ago"
		}
		return strconv.Itoa(h) + " h " + strconv.Itoa(m) + " min ago"
	}
	days, h := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour)
	if h == 0 {
		return strconv.Itoa(days) + " d ago"
	}
	return strconv.Itoa(days) + " d " + strconv.Itoa(h) + " h ago"
}

// shorten keeps the ends of a long identifier (a hash, a txid) for a
// narrow screen: "0123456789…cdef". The full value stays in the link
// and the title.
func shorten(s string) string {
	const keep = 10
	r := []rune(s)
	if len(r) <= 2*keep+1 {
		return s
	}
	return string(r[:keep]) + "…" + string(r[len(r)-keep:])
}
