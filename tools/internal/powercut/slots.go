package powercut

import (
	"context"
	"fmt"
	"time"

	nomadapi "github.com/hashicorp/nomad/api"

	"github.com/scryptpool/poolmicrocloud/tools/internal/catchup"
	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
	"github.com/scryptpool/poolmicrocloud/tools/internal/story"
)

// A periodic job whose slot passes while the cluster has no power must
// run once when the power is back: not zero times, not twice. Nomad's
// new leader force-launches, once, each periodic job whose next launch
// after its last one is in the past, except a job prohibiting overlap
// whose launch from before the cut still counts as running
// (restorePeriodicDispatcher in Nomad's nomad/leader.go), and a job never
// launched before: Nomad records its registration time as its first
// "launch", stamped when a server applies the registration, and servers
// that replay their log after the cut stamp it anew, after the slot
// (applyUpsertJob in nomad/fsm.go). The health job's catch-up task
// (package catchup) launches those two once their runs have ended.

// periodicJob is a periodic job of the pool: its schedule, and whether
// a launch of it was pending or running when the power went.
type periodicJob struct {
	id      string
	spec    *nomadapi.PeriodicConfig
	running bool
	// launched: the job had been launched at least once before the cut.
	launched bool
}

// launch is a periodic job's child: launched at the time its ID names
// (<job>/periodic-<Unix seconds>), forced or in its slot.
type launch struct {
	id     string
	at     time.Time
	status string
}

// next is the job's first slot after t.
func (j periodicJob) next(t time.Time) (time.Time, error) {
	loc, err := j.spec.GetLocation()
	if err != nil {
		return time.Time{}, err
	}
	n, err := j.spec.Next(t.In(loc))
	if err != nil || n.IsZero() {
		return time.Time{}, fmt.Errorf("%s: no next slot after %s (%v)", j.id, t.Format(time.RFC3339), err)
	}
	return n, nil
}

// periodicJobs lists the pool's periodic jobs (not their children) with
// their schedules.
func (p *Pool) periodicJobs(ctx context.Context) ([]periodicJob, error) {
	q := (&nomadapi.QueryOptions{}).WithContext(ctx)
	stubs, _, err := p.Nomad.Jobs().List(q)
	if err != nil {
		return nil, fmt.Errorf("list the jobs: %w", err)
	}
	var out []periodicJob
	for _, s := range stubs {
		if !s.Periodic || s.ParentID != "" {
			continue
		}
		job, _, err := p.Nomad.Jobs().Info(s.ID, q)
		if err != nil {
			return nil, fmt.Errorf("read job %s: %w", s.ID, err)
		}
		if job.Periodic == nil {
			continue
		}
		j := periodicJob{id: s.ID, spec: job.Periodic}
		launches, err := p.launches(ctx, s.ID)
		if err != nil {
			return nil, err
		}
		j.launched = len(launches) > 0
		for _, l := range launches {
			if l.status != "dead" {
				j.running = true
			}
		}
		out = append(out, j)
	}
	return out, nil
}

// launches lists the job's children.
func (p *Pool) launches(ctx context.Context, jobID string) ([]launch, error) {
	stubs, _, err := p.Nomad.Jobs().PrefixList(story.LaunchPrefix(jobID))
	if err != nil {
		return nil, fmt.Errorf("list the launches of %s: %w", jobID, err)
	}
	var out []launch
	for _, s := range stubs {
		if s.ParentID != jobID {
			continue
		}
		at, ok := story.LaunchTime(jobID, s.ID)
		if !ok {
			return nil, fmt.Errorf("launch %s: no launch time in its ID", s.ID)
		}
		out = append(out, launch{id: s.ID, at: at, status: s.Status})
	}
	return out, nil
}

// slotAhead waits until the blocks job (the pool's most frequent) has its
// next slot 8 to 12 s away and no launch of it pending or running, and
// returns the pool's periodic jobs as they are then and that slot: a cut
// now spans the slot, and falls outside any run of the job.
func (p *Pool) slotAhead(ctx context.Context) ([]periodicJob, time.Time, error) {
	blocks := contract.JobID("", p.Coin, contract.KindBlocks)
	deadline := time.Now().Add(p.Wait)
	for {
		jobs, err := p.periodicJobs(ctx)
		if err != nil {
			return nil, time.Time{}, err
		}
		for _, j := range jobs {
			// Not a job never launched: Nomad launches no run for a
			// first slot missed (see missedSlots).
			if j.id != blocks || j.running || !j.launched {
				continue
			}
			slot, err := j.next(time.Now())
			if err != nil {
				return nil, time.Time{}, err
			}
			if ahead := time.Until(slot); ahead >= 8*time.Second && ahead <= 12*time.Second {
				return jobs, slot, nil
			}
		}
		if time.Now().After(deadline) {
			return nil, time.Time{}, fmt.Errorf("waited %s for %s's next slot to be 8-12 s ahead with no run of it under way", p.Wait, blocks)
		}
		select {
		case <-ctx.Done():
			return nil, time.Time{}, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// leaderBack waits until the Nomad servers name a leader, and returns
// when it saw one: no earlier than the leader's election.
func (p *Pool) leaderBack(ctx context.Context) (time.Time, error) {
	err := p.wait(ctx, "a Nomad leader", func(ctx context.Context) bool {
		var leader string
		_, err := p.Nomad.Raw().Query("/v1/status/leader", &leader, (&nomadapi.QueryOptions{}).WithContext(ctx))
		return err == nil && leader != ""
	})
	return time.Now(), err
}

// missedSlots checks, once the pool is healthy again, that every
// periodic job whose slot passed between the cut at cutAt and the leader
// seen at leaderAt ran once for it: exactly one launch after the cut and
// before the job's following slot. Nomad launches those launched before
// the cut; the health job's catch-up task those never launched before,
// when their following slot is far enough. A job with a launch under way
// at the cut runs that launch again when its node is back, and the
// catch-up waits for it to end; what came for it is reported. The launch is awaited up to the
// following slot; a leader seen less than 5 s before that slot leaves
// forced and regular launches apart from nothing, and is an error.
func (p *Pool) missedSlots(ctx context.Context, jobs []periodicJob, cutAt, leaderAt time.Time) ([]string, []SlotRun, error) {
	var notes []string
	var caughtUp []SlotRun
	for _, j := range jobs {
		slot, err := j.next(cutAt)
		if err != nil {
			return notes, caughtUp, err
		}
		if !slot.Before(leaderAt) {
			continue // the leader was back for it
		}
		following, err := j.next(slot)
		if err != nil {
			return notes, caughtUp, err
		}
		// A job never launched before the cut gets no run from Nomad; the
		// health job's catch-up task launches it once it has judged the
		// slot, unless the following slot is near by then. Allowed for
		// that: the task's own start after the power is back.
		acts := slot.Add(catchup.JudgeAfter)
		if leaderAt.After(acts) {
			acts = leaderAt
		}
		caughtByTask := !j.running && !j.launched && following.Sub(acts) > catchup.NearNext+time.Minute
		if j.running || (!j.launched && !caughtByTask) {
			// No run is due for the missed slot before the next one;
			// what came is reported, not required.
			ran, err := p.launchesBetween(ctx, j.id, cutAt, following)
			if err != nil {
				return notes, caughtUp, err
			}
			n := len(ran)
			why := "with a run under way at the cut (prohibit_overlap)"
			if !j.launched {
				why = "before the job's first launch (its servers re-stamp the registration time when they replay their log)"
			}
			notes = append(notes, fmt.Sprintf("%s: slot %s missed %s: %d launch(es) for it so far, the next slot is %s", j.id, slot.Format(time.TimeOnly), why, n, following.Format(time.TimeOnly)))
			continue
		}
		if !caughtByTask && !leaderAt.Add(5*time.Second).Before(following) {
			return notes, caughtUp, fmt.Errorf("%s: slot %s missed, but the leader was seen at %s, too close to the following slot %s to tell a launch for the missed one from the regular one", j.id, slot.Format(time.TimeOnly), leaderAt.Format(time.TimeOnly), following.Format(time.TimeOnly))
		}
		var ran []launch
		for {
			if ran, err = p.launchesBetween(ctx, j.id, cutAt, following); err != nil {
				return notes, caughtUp, err
			}
			if len(ran) > 0 || !time.Now().Before(following) {
				break
			}
			select {
			case <-ctx.Done():
				return notes, caughtUp, ctx.Err()
			case <-time.After(time.Second):
			}
		}
		var ids []string
		for _, l := range ran {
			ids = append(ids, fmt.Sprintf("%s (%s)", l.id, l.at.Format(time.TimeOnly)))
		}
		if len(ran) != 1 {
			return notes, caughtUp, fmt.Errorf("%s: slot %s missed during the cut; %d launches for it before the following slot %s, not 1: %v", j.id, slot.Format(time.TimeOnly), len(ran), following.Format(time.TimeOnly), ids)
		}
		notes = append(notes, fmt.Sprintf("%s: slot %s missed during the cut, run once for it: %s", j.id, slot.Format(time.TimeOnly), ids[0]))
		caughtUp = append(caughtUp, SlotRun{Job: j.id, Slot: slot, Launch: ran[0].at})
	}
	return notes, caughtUp, nil
}

// SlotRun is a periodic job's slot that passed while the power was off,
// and the one launch that ran for it.
type SlotRun struct {
	Job          string
	Slot, Launch time.Time
}

// launchesBetween lists the job's launches after from and before to.
func (p *Pool) launchesBetween(ctx context.Context, jobID string, from, to time.Time) ([]launch, error) {
	all, err := p.launches(ctx, jobID)
	if err != nil {
		return nil, err
	}
	var out []launch
	for _, l := range all {
		if l.at.After(from) && l.at.Before(to) {
			out = append(out, l)
		}
	}
	return out, nil
}
