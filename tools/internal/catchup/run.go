package catchup

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	nomadapi "github.com/hashicorp/nomad/api"

	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
	"github.com/scryptpool/poolmicrocloud/tools/internal/story"
)

const (
	// retryDelay is how long Run waits after Nomad refused a query; a
	// blocking query cannot wait on an API that is down.
	retryDelay    = 2 * time.Second
	maxRetryDelay = time.Minute
	// longestWait bounds a blocking query (Nomad's own limit is 10 min).
	longestWait = 5 * time.Minute
)

// Run keeps the pool's periodic jobs caught up until ctx ends: it follows
// Nomad's job list with blocking queries (a launch ending changes it) and
// wakes when a slot is due to be judged; a job whose latest slot passed
// with no launch is forced once, never twice for the same slot.
//
// It forces nothing for JudgeAfter after it first reaches Nomad, after
// Nomad failed to answer, and after the leader changed: a new leader
// serves reads before it launches its own catch-up, and one launch per
// slot is the point. Before forcing it lists the job's launches again.
//
// The token needs list-jobs, read-job and dispatch-job in the pool's
// namespace (contract.CatchupCapabilities); reads are consistent, so a
// launch Nomad has just made is seen.
func Run(ctx context.Context, nomad *nomadapi.Client, pool string, log io.Writer) error {
	w := watcher{nomad: nomad, pool: pool, log: log, forced: map[string]time.Time{}, told: map[string]string{}, specs: map[string]*nomadapi.Job{}, following: "\x00"}
	var index uint64
	wake := time.Now()
	delay := retryDelay
	var failing string // the error last logged, while Nomad fails
	for ctx.Err() == nil {
		wait := time.Until(wake)
		if index == 0 || wait <= 0 {
			wait = 0 // no blocking: read now
		} else if wait < time.Second {
			// Too short to block on; wait it out, then read.
			if !pause(ctx, wait) {
				return nil
			}
			wait = 0
		}
		if wait > longestWait {
			wait = longestWait
		}
		q := &nomadapi.QueryOptions{WaitIndex: index, WaitTime: wait}
		if wait == 0 {
			q.WaitIndex = 0
		}
		stubs, meta, err := nomad.Jobs().ListOptions(&nomadapi.JobListOptions{Fields: &nomadapi.JobListFields{Meta: true}}, q.WithContext(ctx))
		var leader string
		if err == nil {
			leader, err = nomad.Status().Leader()
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			// Logged once per kind of failure, retried less and less
			// often: a refusal can last until someone fixes a policy.
			if msg := err.Error(); msg != failing {
				failing = msg
				fmt.Fprintf(log, "catchup: ask Nomad: %v; retrying (every %s at most)\n", err, maxRetryDelay)
			}
			w.leader = ""
			if !pause(ctx, delay) {
				return nil
			}
			delay = min(2*delay, maxRetryDelay)
			continue
		}
		if failing != "" {
			fmt.Fprintf(log, "catchup: Nomad answers again\n")
			failing = ""
		}
		delay = retryDelay
		now := time.Now()
		if leader != w.leader {
			// A first answer, or a new leader: its own catch-up may
			// not have run yet.
			w.leader, w.quietUntil = leader, now.Add(JudgeAfter)
		}
		if wait > 0 && meta.LastIndex == index && now.Before(wake) {
			continue // the query timed out before the wake time
		}
		index = meta.LastIndex
		wake = w.pass(ctx, stubs, now)
	}
	return nil
}

type watcher struct {
	nomad *nomadapi.Client
	pool  string
	log   io.Writer
	// forced is the slot last forced for each job.
	forced map[string]time.Time
	// told is the last wait logged for each job, so that a wait is logged
	// once, not at each pass.
	told map[string]string
	// specs are the periodic jobs' specifications last read.
	specs map[string]*nomadapi.Job
	// following is the list of jobs last logged as followed.
	following string
	// leader is the Nomad leader last seen ("" after a failure);
	// quietUntil is when forcing may start again after it changed.
	leader     string
	quietUntil time.Time
}

// pass decides for each of the pool's periodic jobs and forces those due;
// it returns when to look again (at the latest).
func (w *watcher) pass(ctx context.Context, stubs []*nomadapi.JobListStub, now time.Time) time.Time {
	wake := now.Add(longestWait)
	jobs := w.jobs(ctx, stubs)
	ids := make([]string, len(jobs))
	for i, j := range jobs {
		ids[i] = j.ID
	}
	if following := strings.Join(ids, ", "); following != w.following {
		w.following = following
		fmt.Fprintf(w.log, "catchup: following %d periodic job(s) of pool %q: %s\n", len(jobs), w.pool, following)
	}
	for _, j := range jobs {
		d := Decide(j, now)
		if !d.Wake.IsZero() && d.Wake.Before(wake) {
			wake = d.Wake
		}
		switch {
		case d.Slot.IsZero():
			delete(w.told, j.ID)
		case d.Run && w.forced[j.ID].Equal(d.Slot):
			// forced already; its launch is not listed yet
		case d.Run && now.Before(w.quietUntil):
			if w.quietUntil.Before(wake) {
				wake = w.quietUntil
			}
		case d.Run:
			w.force(ctx, j.ID, d.Slot)
		case w.told[j.ID] != d.Wait:
			w.told[j.ID] = d.Wait
			fmt.Fprintf(w.log, "catchup: %s: slot %s missed; not run yet: %s\n", j.ID, stamp(d.Slot), d.Wait)
		}
	}
	return wake
}

func (w *watcher) force(ctx context.Context, id string, slot time.Time) {
	// The launches once more, just before: one may have come since the
	// list this pass decided on.
	children, _, err := w.nomad.Jobs().List((&nomadapi.QueryOptions{Prefix: story.LaunchPrefix(id)}).WithContext(ctx))
	if err == nil {
		for _, c := range children {
			if t, ok := story.LaunchTime(id, c.ID); ok && c.ParentID == id && !t.Before(slot) {
				return
			}
		}
	}
	var evalID string
	if err == nil {
		evalID, _, err = w.nomad.Jobs().PeriodicForce(id, (&nomadapi.WriteOptions{}).WithContext(ctx))
	}
	if err != nil {
		if msg := "failed: " + err.Error(); w.told[id] != msg {
			w.told[id] = msg
			fmt.Fprintf(w.log, "catchup: %s: slot %s missed; forcing a launch failed: %v (trying again at each pass)\n", id, stamp(slot), err)
		}
		return
	}
	w.forced[id] = slot
	delete(w.told, id)
	fmt.Fprintf(w.log, "catchup: %s: slot %s missed and not run since; launched once now (evaluation %s)\n", id, stamp(slot), evalID)
}

// jobs reads the pool's active periodic jobs with their launches.
func (w *watcher) jobs(ctx context.Context, stubs []*nomadapi.JobListStub) []Job {
	var out []Job
	for _, s := range stubs {
		if !s.Periodic || s.ParameterizedJob || s.ParentID != "" || s.Stop || s.Meta[contract.MetaPool] != w.pool {
			continue
		}
		// The job's specification changes only with its JobModifyIndex:
		// read it again only then, not at each pass.
		job := w.specs[s.ID]
		if job == nil || job.JobModifyIndex == nil || *job.JobModifyIndex != s.JobModifyIndex {
			var err error
			job, _, err = w.nomad.Jobs().Info(s.ID, (&nomadapi.QueryOptions{}).WithContext(ctx))
			if ctx.Err() != nil {
				return nil // stopping
			}
			if err != nil {
				if msg := "read: " + err.Error(); w.told[s.ID] != msg {
					w.told[s.ID] = msg
					fmt.Fprintf(w.log, "catchup: read job %s: %v; skipped until it answers\n", s.ID, err)
				}
				continue
			}
			w.specs[s.ID] = job
		}
		p := job.Periodic
		if p == nil || p.Spec == nil || (p.Enabled != nil && !*p.Enabled) {
			continue
		}
		loc, err := p.GetLocation()
		if err != nil {
			fmt.Fprintf(w.log, "catchup: %s: time zone: %v; skipped\n", s.ID, err)
			continue
		}
		j := Job{ID: s.ID, Next: func(t time.Time) (time.Time, error) { return p.Next(t.In(loc)) }}
		if c := s.JobSummary; c != nil && c.Children != nil {
			j.NeverLaunched = c.Children.Pending+c.Children.Running+c.Children.Dead == 0
		}
		if job.SubmitTime != nil {
			j.Registered = time.Unix(0, *job.SubmitTime)
		}
		for _, c := range stubs {
			if c.ParentID != s.ID {
				continue
			}
			if t, ok := story.LaunchTime(s.ID, c.ID); ok {
				j.Launches = append(j.Launches, t)
				j.Running = j.Running || c.Status != "dead"
			}
		}
		sort.Slice(j.Launches, func(a, b int) bool { return j.Launches[a].Before(j.Launches[b]) })
		out = append(out, j)
	}
	return out
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") }

func pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
