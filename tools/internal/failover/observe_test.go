package failover

import (
	"context"
	"testing"
	"time"

	nomadapi "github.com/hashicorp/nomad/api"
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

func TestWaitFirstAfterWakesOnAChange(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	o := &Observer{changed: make(chan struct{}), history: []Snapshot{{At: t0, Instances: []Instance{{AllocID: "a"}}}}}
	passing := func(s Snapshot) bool { return s.Passing() == 1 }
	go func() {
		o.mu.Lock()
		o.history = append(o.history, Snapshot{At: t0.Add(time.Second), Instances: []Instance{{AllocID: "a", Passing: true}}})
		close(o.changed)
		o.changed = make(chan struct{})
		o.mu.Unlock()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	at, ok := o.WaitFirstAfter(ctx, t0, passing)
	assert.True(t, ok)
	assert.Equal(t, t0.Add(time.Second), at)

	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	_, ok = o.WaitFirstAfter(ctx, t0, func(Snapshot) bool { return false })
	assert.False(t, ok, "gives up when ctx ends")
}

func TestCheckRestartGraceComesFromTheJob(t *testing.T) {
	minute, quarter := time.Minute, 15*time.Minute
	name, other := "wallet", "other"
	a := &nomadapi.Allocation{TaskGroup: "wallet", Job: &nomadapi.Job{TaskGroups: []*nomadapi.TaskGroup{
		{Name: &other, Services: []*nomadapi.Service{{Checks: []nomadapi.ServiceCheck{{CheckRestart: &nomadapi.CheckRestart{Grace: &quarter}}}}}},
		{Name: &name, Services: []*nomadapi.Service{{Checks: []nomadapi.ServiceCheck{{}, {CheckRestart: &nomadapi.CheckRestart{Grace: &minute}}}}}},
	}}}
	assert.Equal(t, time.Minute, checkRestartGrace(a))
	assert.Zero(t, checkRestartGrace(&nomadapi.Allocation{}))
}
