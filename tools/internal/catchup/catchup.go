// Package catchup runs once each periodic job of the pool whose latest
// slot passed with no launch: the slots Nomad's own catch-up skips.
//
// A new Nomad leader launches each periodic job whose slot passed while
// there was none (restorePeriodicDispatcher in nomad/leader.go), once,
// but not in two cases, which a whole-cluster power cut produces:
//   - a job whose run was under way at the cut (prohibit_overlap: the
//     run restarts with its node and the slot is skipped);
//   - a job never launched before the cut (its servers stamp its
//     registration anew when they replay their log, so no slot seems
//     missed).
//
// The next slot runs such a job, which for the daily backup is a day
// later. Decide finds the missed slot, Run watches the pool's jobs and
// forces the launch with a token that may do nothing else.
package catchup

import (
	"fmt"
	"time"

	"github.com/scryptpool/poolmicrocloud/tools/internal/story"
)

const (
	// JudgeAfter is how long after a slot its launch is looked for: a
	// scheduled launch carries its slot's time to the second, and a new
	// leader's catch-up comes as it takes office.
	JudgeAfter = 30 * time.Second
	// NearNext: a slot missed this close to the next one is left to it.
	NearNext = 30 * time.Second
)

// Job is what the decision needs of one periodic job.
type Job struct {
	ID string
	// Next is the job's schedule, in its time zone.
	Next func(time.Time) (time.Time, error)
	// Launches are the launch times of the child jobs Nomad keeps
	// (<job>/periodic-<unix seconds>).
	Launches []time.Time
	// Running: a launch has not finished.
	Running bool
	// Registered is when the job was last registered (its SubmitTime;
	// zero: unknown).
	Registered time.Time
	// NeverLaunched: Nomad counts no launch of the job at all (its
	// children summary, which garbage collection does not lower).
	NeverLaunched bool
}

// Decision is what to do about one job now.
type Decision struct {
	// Run: force one launch now, for Slot.
	Run bool
	// Slot is the latest slot that passed with no launch since (zero:
	// none).
	Slot time.Time
	// Wait says why a missed slot is not run now.
	Wait string
	// Wake is when the decision may change by time alone (zero: never).
	Wake time.Time
}

// Decide says whether j's latest slot was missed and is to be run now.
//
// A slot is judged JudgeAfter after it. It was missed when no launch came
// at or after it. Only slots Nomad's memory covers under the job's
// current schedule are judged (story.WindowStart): before that a launch
// may have come and gone, or the schedule was another. A missed slot
// waits while a launch is running (it ends, then the slot runs), and is
// left to the next slot when that is NearNext away or closer.
func Decide(j Job, now time.Time) Decision {
	var oldest time.Time
	for _, l := range j.Launches {
		if oldest.IsZero() || l.Before(oldest) {
			oldest = l
		}
	}
	start := story.WindowStart(oldest, j.Registered, j.NeverLaunched, now)
	if start.IsZero() {
		return Decision{} // no memory to judge by
	}
	// The latest judged slot after the start, and the one after it.
	judged := now.Add(-JudgeAfter)
	var slot time.Time
	next, err := j.Next(start)
	for err == nil && !next.IsZero() && !next.After(judged) {
		slot = next
		next, err = j.Next(slot)
	}
	var d Decision
	if err == nil && !next.IsZero() {
		d.Wake = next.Add(JudgeAfter)
	}
	if slot.IsZero() {
		return d
	}
	for _, l := range j.Launches {
		if !l.Before(slot) {
			return d // launched at or after the slot
		}
	}
	d.Slot = slot
	switch {
	case j.Running:
		d.Wait = "a run is still under way; the slot runs when it ends"
	case !d.Wake.IsZero() && next.Sub(now) <= NearNext:
		d.Wait = fmt.Sprintf("the next slot, %s, is due", next.UTC().Format("15:04:05"))
	default:
		d.Run = true
	}
	return d
}
