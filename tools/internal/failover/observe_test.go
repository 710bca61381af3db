package failover

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestSinceStartsWithTheStateInEffect(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	o := &Observer{history: []Snapshot{{At: at(0)}, {At: at(10)}, {At: at(20)}}}
	for _, tc := range []struct {
		name string
		t    time.Time
		want []time.Time
	}{
		{"between changes: the earlier one is in effect", at(5), []time.Time{at(0), at(10), at(20)}},
		{"exactly at a change: that change is in effect", at(10), []time.Time{at(10), at(20)}},
		{"after the last change", at(25), []time.Time{at(20)}},
		{"before the first", at(-5), []time.Time{at(0), at(10), at(20)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []time.Time
			for _, s := range o.Since(tc.t) {
				got = append(got, s.At)
			}
			assert.Equal(t, tc.want, got)
		})
	}
}

// Recovery measured from the moment of detection must not count the
// state before it.
func TestFirstAfterIgnoresTheStateBeforeADetection(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	both := []Instance{{AllocID: "a", Passing: true}, {AllocID: "b", Passing: true}}
	one := []Instance{{AllocID: "a", Passing: false}, {AllocID: "b", Passing: true}}
	o := &Observer{history: []Snapshot{{At: t0, Instances: both}, {At: t0.Add(time.Second), Instances: one}, {At: t0.Add(9 * time.Second), Instances: both}}}
	allPassing := func(s Snapshot) bool { return s.Passing() == 2 }
	at, ok := o.FirstAfter(t0.Add(time.Second), allPassing)
	assert.True(t, ok)
	assert.Equal(t, t0.Add(9*time.Second), at)
}
