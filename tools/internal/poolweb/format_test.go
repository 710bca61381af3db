package poolweb

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestFormatHashrate(t *testing.T) {
	cases := []struct {
		in   float64
		want string
	}{
		{0, "0 H/s"},
		{1, "1 H/s"},
		{999, "999 H/s"},
		{999.4, "999 H/s"},
		{1000, "1 kH/s"},
		{1234, "1.23 kH/s"},
		{41943, "41.9 kH/s"},
		{436906666.67, "437 MH/s"},
		{1.5e9, "1.5 GH/s"},
		{2e12, "2 TH/s"},
		{1.2e15, "1.2 PH/s"},
		{9e21, "9000 EH/s"},
		{0.5, "0.5 H/s"},
		{math.NaN(), "n/a"},
		{math.Inf(1), "n/a"},
		{math.Inf(-1), "n/a"},
		{-1, "n/a"},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, formatHashrate(c.in), "%v", c.in)
	}
}

func TestFormatLargeAndPercent(t *testing.T) {
	large := []struct {
		in   float64
		want string
	}{
		{15.2587890625, "15.3"},
		{0, "0"},
		{27_000_000, "27 M"},
		{27_123_456, "27.1 M"},
		{1234, "1.23 k"},
		{math.NaN(), "n/a"},
	}
	for _, c := range large {
		assert.Equal(t, c.want, formatLarge(c.in), "%v", c.in)
	}
	percent := []struct {
		in   float64
		want string
	}{
		{0, "0 %"},
		{0.37, "37 %"},
		{0.374, "37.4 %"},
		{1, "100 %"},
		{0.0013679, "0.1 %"},
		{math.Inf(1), "n/a"},
	}
	for _, c := range percent {
		assert.Equal(t, c.want, formatPercent(c.in), "%v", c.in)
	}
}

func TestFormatTimes(t *testing.T) {
	now := time.Date(2026, 11, 26, 0, 30, 0, 0, time.UTC)
	cases := []struct {
		at   time.Time
		want string
	}{
		{now, "just now"},
		{now.Add(-59 * time.Second), "just now"},
		{now.Add(-10 * time.Minute), "10 min ago"},
		{now.Add(-time.Hour), "1 h ago"},
		{now.Add(-90 * time.Minute), "1 h 30 min ago"},
		{now.Add(-24 * time.Hour), "1 d ago"},
		{now.Add(-50 * time.Hour), "2 d 2 h ago"},
		{now.Add(time.Minute), "in the future"},
		{time.Time{}, "never"},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, formatAgo(c.at, now), "%v", c.at)
	}
	assert.Equal(t, "2026-11-26 00:30 UTC", formatTime(now.In(time.FixedZone("x", 3600))))
	assert.Equal(t, "never", formatTime(time.Time{}))
}

func TestShorten(t *testing.T) {
	assert.Equal(t, "aa11", shorten("aa11"))
	assert.Equal(t, "0123456789…ABCDEFGHIJ", shorten("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJ"))
	assert.Equal(t, "012345678901234567890", shorten("012345678901234567890"), "21 runes fit")
}
