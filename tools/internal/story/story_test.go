package story

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	nomadapi "github.com/hashicorp/nomad/api"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/dbcluster"
)

var update = flag.Bool("update", false, "rewrite the golden files from what the code produces now")

var (
	cut   = time.Date(2026, 12, 3, 10, 27, 52, 0, time.UTC)
	since = cut.Add(-time.Hour)
)

func at(d time.Duration) int64 { return cut.Add(d).UnixNano() }

func ev(typ string, d time.Duration) *nomadapi.TaskEvent {
	return &nomadapi.TaskEvent{Type: typ, Time: at(d)}
}

func task(state string, events ...*nomadapi.TaskEvent) *nomadapi.TaskState {
	return &nomadapi.TaskState{State: state, Events: events}
}

// everyMinute is a `* * * * *` schedule.
func everyMinute(t time.Time) (time.Time, error) {
	return t.Truncate(time.Minute).Add(time.Minute), nil
}

// daily is a `17 3 * * *` schedule.
func daily(t time.Time) (time.Time, error) {
	d := time.Date(t.Year(), t.Month(), t.Day(), 3, 17, 0, 0, time.UTC)
	if !d.After(t) {
		d = d.AddDate(0, 0, 1)
	}
	return d, nil
}

func minute(hh, mm, ss int) time.Time { return time.Date(2026, 12, 3, hh, mm, ss, 0, time.UTC) }

func TestStory(t *testing.T) {
	old := ev(nomadapi.TaskStarted, -2*time.Hour)
	for _, tc := range []struct {
		name   string
		events func() []Event
	}{
		{"nothing-happened", func() []Event { return nil }},
		{"power-cut-all-back", func() []Event {
			allocs := []*nomadapi.AllocationListStub{
				// Both tasks found dead, both started again.
				{ID: "a1", Name: "ltc-wallet.wallet[0]", NodeName: "node-01", ClientStatus: "running", TaskStates: map[string]*nomadapi.TaskState{
					"litecoind": task("running", old, ev(taskRestoreFail, 30*time.Second), ev(nomadapi.TaskStarted, 34*time.Second)),
					"probe":     task("running", old, ev(taskRestoreFail, 30*time.Second), ev(nomadapi.TaskStarted, 36*time.Second)),
				}},
				// One task never ran again.
				{ID: "a2", Name: "ltc-stratum.stratum[1]", NodeName: "node-02", ClientStatus: "pending", TaskStates: map[string]*nomadapi.TaskState{
					"stratum": task("pending", old, ev(taskRestoreFail, 31*time.Second)),
				}},
				// A task that took long to run again.
				{ID: "a4", Name: "ltc-wallet.wallet[1]", NodeName: "node-04", ClientStatus: "running", TaskStates: map[string]*nomadapi.TaskState{
					"litecoind": task("running", old, ev(taskRestoreFail, 30*time.Second), ev(nomadapi.TaskStarted, 45*time.Minute)),
				}},
				// Restarts before the window are not told.
				{ID: "a3", Name: "ltc-stratum.stratum[0]", NodeName: "node-03", ClientStatus: "running", TaskStates: map[string]*nomadapi.TaskState{
					"stratum": task("running", ev(taskRestoreFail, -2*time.Hour), ev(nomadapi.TaskStarted, -2*time.Hour+time.Second)),
				}},
			}
			launches := []time.Time{minute(10, 25, 0), minute(10, 26, 0), minute(10, 27, 0), minute(10, 28, 8), minute(10, 29, 0), minute(10, 30, 0)}
			history := []dbcluster.Switch{
				{Timeline: 1, Position: 25165984, Reason: "no recovery target specified", At: cut.Add(-3 * time.Hour), NewLeader: "node-01"},
				{Timeline: 2, Position: 50331800, Reason: "no recovery target specified", At: cut.Add(40 * time.Second), NewLeader: "node-02"},
			}
			out := Allocs(allocs, since)
			out = append(out, Slots("ltc-blocks", everyMinute, launches, time.Time{}, since, minute(10, 31, 0))...)
			return append(out, Database(history, since)...)
		}},
		{"node-never-returns", func() []Event {
			nodes := []*nomadapi.Node{
				{Name: "node-01", Status: "ready", Events: []*nomadapi.NodeEvent{{Message: nodeRegistered, Timestamp: cut.Add(-5 * time.Hour)}}},
				{Name: "node-03", Status: "down", StatusUpdatedAt: cut.Add(5 * time.Minute).Unix(), Events: []*nomadapi.NodeEvent{
					{Message: nodeRegistered, Timestamp: cut.Add(-5 * time.Hour)},
					{Message: nodeMissed, Timestamp: cut.Add(5 * time.Minute)},
				}},
				{Name: "node-04", Status: "ready", Events: []*nomadapi.NodeEvent{
					{Message: nodeMissed, Timestamp: cut.Add(5 * time.Minute)},
					{Message: nodeBack, Timestamp: cut.Add(6 * time.Minute)},
					{Message: "Node drain complete", Timestamp: cut.Add(7 * time.Minute)},
				}},
			}
			allocs := []*nomadapi.AllocationListStub{
				{ID: "lost1", Name: "ltc-wallet.wallet[1]", NodeName: "node-03", ClientStatus: "lost", ModifyTime: at(5 * time.Minute), NextAllocation: "new1"},
				{ID: "new1", Name: "ltc-wallet.wallet[1]", NodeName: "node-01", ClientStatus: "running"},
				{ID: "lost2", Name: "ltc-stratum.stratum[1]", NodeName: "node-03", ClientStatus: "lost", ModifyTime: at(5 * time.Minute)},
				{ID: "lost3", Name: "ltc-stratum.stratum[2]", NodeName: "node-03", ClientStatus: "lost", ModifyTime: at(5 * time.Minute), NextAllocation: "new3"},
				{ID: "new3", Name: "ltc-stratum.stratum[2]", NodeName: "node-02", ClientStatus: "failed"},
				{ID: "unk", Name: "pool-database.database[1]", NodeName: "node-03", ClientStatus: "unknown", ModifyTime: at(5 * time.Minute)},
			}
			return append(Nodes(nodes, since), Allocs(allocs, since)...)
		}},
		// A minute after the power came back: node-02 never did, and
		// only Consul knows it yet; node-05 is down for Nomad already (no
		// second line), node-01 answers both.
		{"node-silent-before-nomad-notices", func() []Event {
			nodes := []*nomadapi.NodeListStub{
				{Name: "node-01", Status: "ready"},
				{Name: "node-02", Status: "ready"},
				{Name: "node-03", Status: "initializing"},
				{Name: "node-05", Status: "down"},
			}
			silent := map[string]string{"node-02": "Consul has no agent of it", "node-03": "Consul's gossip no longer reaches its agent",
				"node-05": "Consul has no agent of it", "not-in-nomad": "Consul has no agent of it"}
			return Silent(nodes, silent, cut.Add(time.Minute))
		}},
		{"tasks-exit", func() []Event {
			allocs := []*nomadapi.AllocationListStub{
				{ID: "a1", Name: "ltc-stratum.stratum[0]", NodeName: "node-02", ClientStatus: "running", TaskStates: map[string]*nomadapi.TaskState{
					// Crashed, restarted by Nomad.
					"stratum": task("running", old,
						&nomadapi.TaskEvent{Type: nomadapi.TaskTerminated, Time: at(0), ExitCode: 2},
						ev(nomadapi.TaskRestarting, time.Second), ev(nomadapi.TaskStarted, 16*time.Second)),
					// Stopped by Nomad for a deploy, after its shutdown
					// delay: not told.
					"deployed": task("dead", old, ev(taskShutdownWait, 0), ev(nomadapi.TaskKilling, 5*time.Second),
						&nomadapi.TaskEvent{Type: nomadapi.TaskTerminated, Time: at(6 * time.Second), Signal: 15, ExitCode: 143}),
					// Restarted for a new template: not told.
					"templated": task("running", old, ev(nomadapi.TaskRestartSignal, 0),
						&nomadapi.TaskEvent{Type: nomadapi.TaskTerminated, Time: at(time.Second), Signal: 1},
						ev(nomadapi.TaskStarted, 2*time.Second)),
					// Stopped by Nomad (a deploy): not told.
					"sidecar": task("dead", old, ev(nomadapi.TaskKilling, 0),
						&nomadapi.TaskEvent{Type: nomadapi.TaskTerminated, Time: at(time.Second), Signal: 15, ExitCode: 143},
						ev(nomadapi.TaskKilled, 2*time.Second)),
				}},
				{ID: "a2", Name: "ltc-wallet.wallet[0]", NodeName: "node-01", ClientStatus: "failed", TaskStates: map[string]*nomadapi.TaskState{
					// Killed for its memory, never again.
					"litecoind": task("dead", old,
						&nomadapi.TaskEvent{Type: nomadapi.TaskTerminated, Time: at(time.Minute), ExitCode: 137, Signal: 9, Details: map[string]string{"oom_killed": "true"}},
						ev(nomadapi.TaskNotRestarting, time.Minute+time.Second)),
				}},
			}
			return Allocs(allocs, since)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			Write(&out, tc.events(), since)
			golden := filepath.Join("testdata", tc.name+".txt")
			if *update {
				require.NoError(t, os.WriteFile(golden, out.Bytes(), 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err)
			assert.Equal(t, string(want), out.String())
		})
	}
}

// Slots against an every-minute schedule: which slots are missed, which
// launch caught them up, which launches were forced.
func TestSlots(t *testing.T) {
	for _, tc := range []struct {
		name     string
		launches []time.Time
		// registered is when the job was registered (zero: unknown)
		registered time.Time
		now        time.Time
		daily      bool // 17 3 * * *, not every minute
		want       []string
		lost       []bool
	}{
		{name: "every slot on time", launches: []time.Time{minute(10, 50, 0), minute(10, 51, 0), minute(10, 52, 0)}, now: minute(10, 52, 40)},
		{name: "one slot caught up", launches: []time.Time{minute(10, 50, 0), minute(10, 51, 8), minute(10, 52, 0)}, now: minute(10, 52, 40),
			want: []string{"slot 10:51:00 missed; run once at 10:51:08 (caught up)"}, lost: []bool{false}},
		{name: "three slots, one catch-up", launches: []time.Time{minute(10, 50, 0), minute(10, 53, 30), minute(10, 54, 0)}, now: minute(10, 54, 40),
			want: []string{"3 slots 10:51:00 to 10:53:00 missed; run once at 10:53:30 (caught up)"}, lost: []bool{false}},
		{name: "a slot skipped", launches: []time.Time{minute(10, 50, 0), minute(10, 52, 0)}, now: minute(10, 52, 40),
			want: []string{"slot 10:51:00 missed and not run"}, lost: []bool{true}},
		{name: "the last slots, nothing since", launches: []time.Time{minute(10, 57, 0)}, now: minute(11, 0, 30),
			want: []string{"3 slots 10:58:00 to 11:00:00 missed, no run for it so far"}, lost: []bool{true}},
		{name: "a missed slot whose next slot passed", launches: []time.Time{minute(10, 57, 0)}, now: minute(10, 59, 0),
			want: []string{"slot 10:58:00 missed and not run"}, lost: []bool{true}},
		{name: "the last slot caught up, the status read at once", launches: []time.Time{minute(10, 57, 0), minute(10, 58, 8)}, now: minute(10, 58, 20),
			want: []string{"slot 10:58:00 missed; run once at 10:58:08"}, lost: []bool{false}},
		{name: "a slot within a few seconds is not judged yet", launches: []time.Time{minute(10, 58, 0)}, now: minute(10, 59, 4)},
		{name: "registered, never launched, slots missed", registered: minute(10, 50, 30), now: minute(10, 52, 40),
			want: []string{"2 slots 10:51:00 to 10:52:00 missed, no run for it so far"}, lost: []bool{true}},
		{name: "registered, never launched before a cut, then caught up", registered: minute(10, 50, 30), launches: []time.Time{minute(10, 51, 30)}, now: minute(10, 51, 40),
			want: []string{"slot 10:51:00 missed; run once at 10:51:30 (caught up)"}, lost: []bool{false}},
		{name: "registered, launched on time", registered: minute(10, 50, 30), launches: []time.Time{minute(10, 51, 0), minute(10, 52, 0)}, now: minute(10, 52, 40)},
		{name: "registered long ago, older launches collected", registered: minute(10, 50, 30).Add(-240 * time.Hour), launches: []time.Time{minute(10, 50, 0), minute(10, 51, 0), minute(10, 52, 0)}, now: minute(10, 52, 40)},
		{name: "registered long ago, every launch collected", registered: minute(10, 50, 30).Add(-240 * time.Hour), now: minute(10, 52, 40)},
		{name: "registered after the oldest launch kept", registered: minute(10, 51, 30), launches: []time.Time{minute(10, 50, 0), minute(10, 51, 0), minute(10, 52, 0)}, now: minute(10, 52, 40)},
		{name: "forced between slots", launches: []time.Time{minute(10, 50, 0), minute(10, 50, 40), minute(10, 51, 0), minute(10, 52, 0)}, now: minute(10, 52, 40),
			want: []string{"run forced off its schedule"}, lost: []bool{false}},
		{name: "launched a second late is on time", launches: []time.Time{minute(10, 50, 1), minute(10, 51, 0), minute(10, 52, 0)}, now: minute(10, 52, 40)},
		{name: "no launches", now: minute(10, 52, 40)},
		{name: "daily, a day missed, caught up 50 s later", daily: true, now: minute(10, 0, 0),
			launches: []time.Time{minute(3, 17, 0).Add(-48 * time.Hour), minute(3, 17, 0).Add(-24*time.Hour + 50*time.Second), minute(3, 17, 0)},
			want:     []string{"slot 03:17:00 missed; run once at 03:17:50"}, lost: []bool{false}},
		{name: "daily, two days missed", daily: true, now: minute(10, 0, 0),
			launches: []time.Time{minute(3, 17, 0).Add(-48 * time.Hour)},
			want:     []string{"2 slots 12-02 03:17:00 to 12-03 03:17:00 missed, no run for it so far"}, lost: []bool{true}},
		{name: "a slot before the window is not told", launches: []time.Time{minute(9, 0, 0), minute(9, 2, 0), minute(9, 3, 0)}, now: minute(9, 3, 40)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			from := since
			if tc.name == "a slot before the window is not told" {
				from = minute(9, 2, 0)
			}
			got := Slots("ltc-blocks", everyMinute, tc.launches, tc.registered, from, tc.now)
			if tc.daily {
				from = minute(0, 0, 0).Add(-72 * time.Hour)
				got = Slots("ltc-blocks", daily, tc.launches, tc.registered, from, tc.now)
			}
			require.Len(t, got, len(tc.want), "%+v", got)
			for i, e := range got {
				assert.Contains(t, e.What, tc.want[i])
				assert.Equal(t, tc.lost[i], e.Lost, e.What)
				assert.Equal(t, "ltc-blocks", e.Subject)
			}
		})
	}
}

// Launch times read from Nomad's child IDs, and IDs that are not a
// job's launches.
func TestLaunchTime(t *testing.T) {
	for _, tc := range []struct {
		child string
		want  time.Time
		ok    bool
	}{
		{"ltc-blocks/periodic-1796298600", time.Unix(1796298600, 0), true},
		{"ltc-payout/periodic-1796298600", time.Time{}, false},
		{"ltc-blocks/periodic-", time.Time{}, false},
		{"ltc-blocks/periodic-17962x", time.Time{}, false},
		{"ltc-blocks/dispatch-1796298600-ab12", time.Time{}, false},
	} {
		got, ok := LaunchTime("ltc-blocks", tc.child)
		assert.Equal(t, tc.ok, ok, tc.child)
		assert.True(t, tc.want.Equal(got), "%s: %s", tc.child, got)
	}
}
