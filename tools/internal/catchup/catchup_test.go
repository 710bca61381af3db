package catchup

import (
	"testing"
	"time"

	nomadapi "github.com/hashicorp/nomad/api"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func schedule(t *testing.T, cron string) func(time.Time) (time.Time, error) {
	p := &nomadapi.PeriodicConfig{Spec: &cron, SpecType: ptr(nomadapi.PeriodicSpecCron)}
	loc, err := p.GetLocation()
	require.NoError(t, err)
	return func(at time.Time) (time.Time, error) { return p.Next(at.In(loc)) }
}

func ptr[T any](v T) *T { return &v }

func TestDecide(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse("2006-01-02 15:04:05", s)
		require.NoError(t, err)
		return v
	}
	type want struct {
		run  bool
		slot string // "" when none was missed
		wait string // a part of Decision.Wait
		wake string // "" when none
	}
	cases := []struct {
		name       string
		cron       string
		launches   []string
		running    bool
		never      bool
		registered string
		now        string
		want       want
	}{{
		name: "every slot launched", cron: "*/30 * * * *",
		launches: []string{"2026-12-03 10:00:00", "2026-12-03 10:30:00"}, now: "2026-12-03 10:45:00",
		want: want{wake: "2026-12-03 11:00:30"},
	}, {
		name: "the latest slot missed in a cut, nothing running", cron: "*/30 * * * *",
		launches: []string{"2026-12-03 10:00:00"}, now: "2026-12-03 10:36:00",
		want: want{run: true, slot: "2026-12-03 10:30:00", wake: "2026-12-03 11:00:30"},
	}, {
		name: "three slots missed: the latest runs, once", cron: "*/30 * * * *",
		launches: []string{"2026-12-03 09:00:00"}, now: "2026-12-03 10:36:00",
		want: want{run: true, slot: "2026-12-03 10:30:00", wake: "2026-12-03 11:00:30"},
	}, {
		name: "the run under way at the cut still runs: wait for it", cron: "*/30 * * * *",
		launches: []string{"2026-12-03 10:00:00"}, running: true, now: "2026-12-03 10:36:00",
		want: want{slot: "2026-12-03 10:30:00", wait: "still under way", wake: "2026-12-03 11:00:30"},
	}, {
		name: "Nomad caught up already", cron: "*/30 * * * *",
		launches: []string{"2026-12-03 10:00:00", "2026-12-03 10:35:12"}, now: "2026-12-03 10:36:00",
		want: want{wake: "2026-12-03 11:00:30"},
	}, {
		name: "missed, but the next slot is due", cron: "*/2 * * * *",
		launches: []string{"2026-12-03 10:00:00"}, now: "2026-12-03 10:03:40",
		want: want{slot: "2026-12-03 10:02:00", wait: "10:04:00, is due", wake: "2026-12-03 10:04:30"},
	}, {
		name: "a slot passed less than JudgeAfter ago is not judged", cron: "*/30 * * * *",
		launches: []string{"2026-12-03 10:00:00"}, now: "2026-12-03 10:30:10",
		want: want{wake: "2026-12-03 10:30:30"},
	}, {
		name: "never launched: a slot after the registration passed", cron: "17 3 * * *",
		registered: "2026-12-03 02:00:00", now: "2026-12-03 03:40:00",
		want: want{run: true, slot: "2026-12-03 03:17:00", wake: "2026-12-04 03:17:30"},
	}, {
		name: "registered after the latest slot", cron: "17 3 * * *",
		registered: "2026-12-03 03:20:00", now: "2026-12-03 03:40:00",
		want: want{wake: "2026-12-04 03:17:30"},
	}, {
		name: "no launch kept and registered too long ago to tell", cron: "*/30 * * * *",
		registered: "2026-12-03 02:00:00", now: "2026-12-03 10:36:00",
		want: want{},
	}, {
		name: "a daily job: yesterday's launch kept, today's slot missed", cron: "17 3 * * *",
		launches: []string{"2026-12-02 03:17:00"}, now: "2026-12-03 05:00:00",
		want: want{run: true, slot: "2026-12-03 03:17:00", wake: "2026-12-04 03:17:30"},
	}, {
		name: "never launched, registered long ago: Nomad's summary says so", cron: "17 3 * * *",
		registered: "2026-12-02 20:00:00", never: true, now: "2026-12-03 05:00:00",
		want: want{run: true, slot: "2026-12-03 03:17:00", wake: "2026-12-04 03:17:30"},
	}, {
		name: "registered with a new schedule after its last launch: no slot of the old one", cron: "*/20 * * * *",
		launches: []string{"2026-12-03 10:30:00"}, registered: "2026-12-03 10:45:00", now: "2026-12-03 10:50:00",
		want: want{wake: "2026-12-03 11:00:30"},
	}, {
		name: "stopped, then run again after a slot passed", cron: "0 * * * *",
		launches: []string{"2026-12-03 10:00:00"}, registered: "2026-12-03 12:10:00", now: "2026-12-03 12:11:00",
		want: want{wake: "2026-12-03 13:00:30"},
	}, {
		name: "registered long ago, before the oldest launch kept", cron: "*/30 * * * *",
		launches: []string{"2026-12-03 09:00:00"}, registered: "2026-12-02 09:00:00", now: "2026-12-03 09:36:00",
		want: want{run: true, slot: "2026-12-03 09:30:00", wake: "2026-12-03 10:00:30"},
	}, {
		name: "a forced launch before the slot does not count for it", cron: "*/30 * * * *",
		launches: []string{"2026-12-03 10:00:00", "2026-12-03 10:29:59"}, now: "2026-12-03 10:36:00",
		want: want{run: true, slot: "2026-12-03 10:30:00", wake: "2026-12-03 11:00:30"},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			j := Job{ID: "ltc-payout", Next: schedule(t, tc.cron), Running: tc.running, NeverLaunched: tc.never}
			for _, l := range tc.launches {
				j.Launches = append(j.Launches, at(l))
			}
			if tc.registered != "" {
				j.Registered = at(tc.registered)
			}
			d := Decide(j, at(tc.now))
			assert.Equal(t, tc.want.run, d.Run, "run")
			if tc.want.slot == "" {
				assert.True(t, d.Slot.IsZero(), "no slot missed, got %s", d.Slot)
			} else {
				assert.Equal(t, at(tc.want.slot), d.Slot.UTC(), "slot")
			}
			if tc.want.wait == "" {
				assert.Empty(t, d.Wait)
			} else {
				assert.Contains(t, d.Wait, tc.want.wait)
			}
			if tc.want.wake == "" {
				assert.True(t, d.Wake.IsZero(), "no wake, got %s", d.Wake)
			} else {
				assert.Equal(t, at(tc.want.wake), d.Wake.UTC(), "wake")
			}
		})
	}
}
