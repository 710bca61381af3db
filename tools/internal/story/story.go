// Package story tells what happened to the pool lately, from what Nomad
// and Patroni keep anyway: nodes that stopped answering and came back,
// tasks a restarting node found dead and started again, allocations lost
// with their node, periodic slots missed and caught up, database
// promotions. `poolctl status` prints it under "Recent events", so that
// after a power cut the operator reads what was lost, what recovered and
// when, without a log in hand.
package story

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	nomadapi "github.com/hashicorp/nomad/api"

	"github.com/scryptpool/poolmicrocloud/tools/internal/dbcluster"
)

// Event is one thing that happened.
type Event struct {
	At      time.Time
	Subject string // a node, an allocation, a job, "database"
	What    string
	// Lost marks what was lost or is still missing; the rest recovered
	// or is news.
	Lost bool
}

// Nomad's node event messages (nomad/heartbeat.go, nomad/node_endpoint.go,
// nomad/state/state_store.go).
const (
	nodeMissed       = "Node heartbeat missed"
	nodeBackBeat     = "Node reregistered by heartbeat"
	nodeBack         = "Node re-registered"
	nodeRegistered   = "Node registered"
	taskRestoreFail  = "Failed Restoring Task" // structs.TaskRestoreFailed, not in the api package
	taskShutdownWait = "Waiting for shutdown delay"
)

// Nodes tells the node events Nomad recorded since then.
func Nodes(nodes []*nomadapi.Node, since time.Time) []Event {
	var out []Event
	for _, n := range nodes {
		for i, e := range n.Events {
			if e == nil || e.Timestamp.Before(since) {
				continue
			}
			ev := Event{At: e.Timestamp, Subject: n.Name}
			switch e.Message {
			case nodeMissed:
				ev.What = "stopped answering Nomad: marked down, its allocations lost or disconnected"
				ev.Lost = !slices.ContainsFunc(n.Events[i+1:], func(later *nomadapi.NodeEvent) bool {
					return later != nil && (later.Message == nodeBack || later.Message == nodeBackBeat)
				})
			case nodeBackBeat, nodeBack:
				ev.What = "answers Nomad again: marked ready"
			case nodeRegistered:
				ev.What = "joined the cluster"
			default:
				ev.What = "Nomad: " + e.Message
			}
			out = append(out, ev)
		}
		switch n.Status {
		case "down":
			out = append(out, Event{At: time.Unix(n.StatusUpdatedAt, 0), Subject: n.Name, What: "still down", Lost: true})
		case "disconnected":
			out = append(out, Event{At: time.Unix(n.StatusUpdatedAt, 0), Subject: n.Name, What: "still disconnected", Lost: true})
		}
	}
	return out
}

// Silent tells the nodes Nomad still counts up (ready or initializing)
// whose Consul agent does not answer (silent, by Nomad node name, with
// why): a node that lost its power is known to Consul within seconds, to
// Nomad only when its heartbeat runs out, and until then nothing else
// tells it.
func Silent(nodes []*nomadapi.NodeListStub, silent map[string]string, now time.Time) []Event {
	var out []Event
	for _, n := range nodes {
		why, ok := silent[n.Name]
		if ok && (n.Status == "ready" || n.Status == "initializing") {
			out = append(out, Event{At: now, Subject: n.Name, Lost: true,
				What: "does not answer Consul (" + why + "); Nomad counts it " + n.Status + " until its heartbeat runs out, then moves its work"})
		}
	}
	return out
}

// Allocs tells, for one job's allocations, what happened since then:
// the tasks each node found dead when it restarted (a power cut) and when
// they ran again, tasks that exited on their own, allocations lost with
// their node and where they were replaced.
func Allocs(allocs []*nomadapi.AllocationListStub, since time.Time) []Event {
	byID := map[string]*nomadapi.AllocationListStub{}
	for _, a := range allocs {
		byID[a.ID] = a
	}
	var out []Event
	for _, a := range allocs {
		subject := a.Name + " on " + a.NodeName
		out = append(out, restored(a, subject, since)...)
		out = append(out, exits(a, subject, since)...)
		if a.ClientStatus == "lost" || a.ClientStatus == "unknown" {
			at := time.Unix(0, a.ModifyTime)
			if at.Before(since) {
				continue
			}
			what, lost := "lost with its node, not replaced", true
			if a.ClientStatus == "unknown" {
				what = "its node disconnected: Nomad waits for it (disconnect block) before replacing"
			}
			if next := byID[a.NextAllocation]; next != nil {
				what, lost = "lost with its node; replaced on "+next.NodeName, false
				if a.ClientStatus == "unknown" {
					what = "its node disconnected; replaced on " + next.NodeName
				}
				if next.ClientStatus != "running" && next.ClientStatus != "pending" && next.ClientStatus != "complete" {
					what, lost = what+", where it is "+next.ClientStatus, true
				}
			}
			out = append(out, Event{At: at, Subject: subject, What: what, Lost: lost})
		}
	}
	return out
}

// restored finds the restart of a node in an allocation's task events:
// Nomad's client, coming back, finds each task's process gone ("Failed
// Restoring Task") and, once a server answers, starts it again. One line
// per allocation: which tasks, and when the last of them ran again.
func restored(a *nomadapi.AllocationListStub, subject string, since time.Time) []Event {
	var out []Event
	type restart struct {
		failed  time.Time
		started time.Time
		tasks   []string
		waiting []string
	}
	var r *restart
	flush := func() {
		if r == nil {
			return
		}
		sort.Strings(r.tasks)
		sort.Strings(r.waiting)
		what := "its node restarted and found " + strings.Join(r.tasks, ", ") + " dead"
		ev := Event{At: r.failed, Subject: subject}
		if len(r.waiting) == 0 {
			what += fmt.Sprintf("; running again %s later (%s)", span(r.started.Sub(r.failed)), r.started.UTC().Format("15:04:05"))
		} else {
			what += "; not running again yet: " + strings.Join(r.waiting, ", ")
			ev.Lost = true
		}
		ev.What = what
		out = append(out, ev)
		r = nil
	}
	// One restart per moment: events of the allocation's tasks, merged
	// by the time their restore failed.
	type mark struct {
		task  string
		at    time.Time
		start time.Time
	}
	var marks []mark
	for task, ts := range a.TaskStates {
		if ts == nil {
			continue
		}
		for i, e := range ts.Events {
			if e == nil || e.Type != taskRestoreFail {
				continue
			}
			at := time.Unix(0, e.Time)
			if at.Before(since) {
				continue
			}
			marks = append(marks, mark{task: task, at: at, start: startedAfter(ts.Events[i+1:])})
		}
	}
	sort.Slice(marks, func(i, k int) bool { return marks[i].at.Before(marks[k].at) })
	for _, m := range marks {
		if r != nil && m.at.Sub(r.failed) > time.Minute {
			flush()
		}
		if r == nil {
			r = &restart{failed: m.at}
		}
		r.tasks = append(r.tasks, m.task)
		switch {
		case m.start.IsZero():
			r.waiting = append(r.waiting, m.task)
		case m.start.After(r.started):
			r.started = m.start
		}
	}
	flush()
	return out
}

// exits tells tasks that ended on their own (not stopped by Nomad) and
// whether they ran again.
func exits(a *nomadapi.AllocationListStub, subject string, since time.Time) []Event {
	var out []Event
	for task, ts := range a.TaskStates {
		if ts == nil {
			continue
		}
		stopping := false // Nomad asked the task to stop since it last started
		for i, e := range ts.Events {
			if e == nil {
				continue
			}
			switch e.Type {
			case nomadapi.TaskStarted:
				stopping = false
			case nomadapi.TaskKilling, nomadapi.TaskRestartSignal, nomadapi.TaskSiblingFailed, nomadapi.TaskLeaderDead, nomadapi.TaskSignaling, taskShutdownWait:
				stopping = true
			}
			if e.Type != nomadapi.TaskTerminated || stopping {
				continue // a deploy, a drain, a stop, a template's restart
			}
			at := time.Unix(0, e.Time)
			if at.Before(since) {
				continue
			}
			if e.ExitCode == 0 && e.Signal == 0 {
				continue
			}
			what := "task " + task + " exited (" + exitText(e) + ")"
			again := startedAfter(ts.Events[i+1:])
			if !again.IsZero() {
				what += fmt.Sprintf("; started again %s later", span(again.Sub(at)))
			}
			out = append(out, Event{At: at, Subject: subject, What: what, Lost: again.IsZero() && ts.State != "running"})
		}
	}
	return out
}

// startedAfter is when the first of events started the task (zero: none
// did).
func startedAfter(events []*nomadapi.TaskEvent) time.Time {
	for _, e := range events {
		if e != nil && e.Type == nomadapi.TaskStarted {
			return time.Unix(0, e.Time)
		}
	}
	return time.Time{}
}

func exitText(e *nomadapi.TaskEvent) string {
	parts := []string{"code " + strconv.Itoa(e.ExitCode)}
	if e.Signal != 0 {
		parts = append(parts, "signal "+strconv.Itoa(e.Signal))
	}
	if e.Details["oom_killed"] == "true" {
		parts = append(parts, "out of memory")
	}
	return strings.Join(parts, ", ")
}

// Slots tells a periodic job's missed slots: each slot in the window
// that has no launch of its own, from WindowStart. A launch off the
// schedule after missed slots and before the next slot is their catch-up
// (Nomad's new leader launches once for slots passed with none, and the
// health job's catch-up task for those it skips); missed slots without
// one were skipped, or are not run yet. Other
// launches off the schedule are forced ones.
//
// next is the job's schedule (api.PeriodicConfig.Next, in the job's time
// zone); launches are the child jobs' launch times (periodic-<unix
// seconds>); registered is when the job was last registered (zero:
// unknown).
func Slots(job string, next func(time.Time) (time.Time, error), launches []time.Time, registered, since, now time.Time) []Event {
	sorted := append([]time.Time(nil), launches...)
	sort.Slice(sorted, func(i, k int) bool { return sorted[i].Before(sorted[k]) })
	var oldest time.Time
	if len(sorted) > 0 {
		oldest = sorted[0].Add(-onTime - time.Second)
	}
	start := WindowStart(oldest, registered, false, now)
	if start.IsZero() {
		return nil
	}
	if from := since.Add(-onTime - time.Second); start.Before(from) {
		start = from
	}
	// The slots since the start, each with or without its own launch; a
	// slot is judged once its launch would have shown. Slots and launches
	// are both in order: one pass over each.
	used := make([]bool, len(sorted))
	var slots []time.Time
	var missed []bool
	end := now.Add(-onTime - 3*time.Second)
	first := 0 // launches before it are before the current slot
	for slot, err := next(start); err == nil && !slot.IsZero() && !slot.After(end); slot, err = next(slot) {
		for first < len(sorted) && sorted[first].Before(slot) {
			first++
		}
		own := first < len(sorted) && sorted[first].Before(slot.Add(onTime))
		if own {
			used[first] = true
			first++
		}
		slots = append(slots, slot)
		missed = append(missed, !own)
	}
	// Each run of missed slots, with the launch that caught it up, if any,
	// before the slot after it.
	var out []Event
	for a := 0; a < len(slots); a++ {
		if !missed[a] {
			continue
		}
		b := a
		for b+1 < len(slots) && missed[b+1] {
			b++
		}
		limit, pending := now, true
		if b+1 < len(slots) {
			limit, pending = slots[b+1], false
		} else if f, err := next(slots[b]); err == nil && !f.IsZero() && !f.After(now) {
			limit, pending = f, false
		}
		var caughtUp time.Time
		i := sort.Search(len(sorted), func(i int) bool { return !sorted[i].Before(slots[b].Add(onTime)) })
		if i < len(sorted) && sorted[i].Before(limit) && !used[i] {
			used[i], caughtUp = true, sorted[i]
		}
		out = append(out, missedEvent(job, slots[a:b+1], caughtUp, pending))
		a = b
	}
	for i, l := range sorted {
		if !used[i] && !l.Before(since) && !l.Before(start) {
			out = append(out, Event{At: l, Subject: job, What: "run forced off its schedule (`nomad job periodic force` or a poolctl command)"})
		}
	}
	return out
}

// WindowStart is where a periodic job's slots can be judged from: what
// Nomad remembers of its launches under its current schedule. oldest is
// the oldest launch Nomad keeps (zero: none); registered is when the job
// was last registered (its SubmitTime, which changes with its
// specification; zero: unknown); neverLaunched says Nomad counts no child
// of it at all (its children summary, which garbage collection does not
// lower). Zero when nothing can be judged.
//
// From the registration when the job was never launched, when it was
// registered after its oldest launch (slots before belong to an older
// schedule, or to a time it was stopped or disabled), or when it was
// registered too recently for Nomad to have collected a launch since.
// Otherwise from the oldest launch kept: an older one may have come and
// gone.
func WindowStart(oldest, registered time.Time, neverLaunched bool, now time.Time) time.Time {
	switch {
	case registered.IsZero():
		return oldest
	case neverLaunched, oldest.IsZero() && now.Sub(registered) < nomadJobGC:
		return registered
	case oldest.IsZero():
		return time.Time{}
	case registered.After(oldest), now.Sub(registered) < nomadJobGC:
		return registered
	}
	return oldest
}

const (
	// onTime: a scheduled launch carries its slot's time.
	onTime = 2 * time.Second
	// nomadJobGC is Nomad's job_gc_threshold, which the pool's agents
	// leave at its default: a finished launch is kept at least this long.
	nomadJobGC = 4 * time.Hour
)

func missedEvent(job string, missed []time.Time, caughtUp time.Time, pending bool) Event {
	first, last := missed[0], missed[len(missed)-1]
	stamp := func(t time.Time) string { return t.UTC().Format("15:04:05") }
	if first.UTC().YearDay() != last.UTC().YearDay() || (!caughtUp.IsZero() && caughtUp.UTC().YearDay() != first.UTC().YearDay()) {
		stamp = func(t time.Time) string { return t.UTC().Format("01-02 15:04:05") }
	}
	slots := "slot " + stamp(first)
	if len(missed) > 1 {
		slots = fmt.Sprintf("%d slots %s to %s", len(missed), stamp(first), stamp(last))
	}
	// restorePeriodicDispatcher in Nomad's nomad/leader.go: a new leader
	// launches each job whose slot passed, once; the health job's
	// catch-up task (package catchup) launches those it skips, a job with
	// a run under way and one never launched before a whole-cluster cut.
	// A slot is left to the next one when it comes within seconds, or
	// when the catch-up task is not running.
	const why = " (no catch-up: the next slot was due, or the health job's catch-up task was not running): the next slot runs it"
	switch {
	case caughtUp.IsZero() && pending:
		return Event{At: first, Subject: job, Lost: true, What: slots + " missed, no run for it so far" + why}
	case caughtUp.IsZero():
		return Event{At: first, Subject: job, Lost: true, What: slots + " missed and not run" + why}
	}
	return Event{At: first, Subject: job, What: slots + " missed; run once at " + stamp(caughtUp) + " (caught up)"}
}

// LaunchPrefix is what the IDs of a periodic job's launches begin with:
// Nomad names each child "<job>/periodic-<unix seconds>"
// (structs.PeriodicLaunchSuffix), the seconds being its slot for a
// scheduled launch and the moment it was made for a forced one.
func LaunchPrefix(jobID string) string { return jobID + "/periodic-" }

// LaunchTime reads the launch time from a child's ID; false when the ID
// is not one of jobID's launches.
func LaunchTime(jobID, childID string) (time.Time, bool) {
	rest, ok := strings.CutPrefix(childID, LaunchPrefix(jobID))
	if !ok {
		return time.Time{}, false
	}
	sec, err := strconv.ParseInt(rest, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(sec, 0), true
}

// Database tells the promotions Patroni recorded since then.
func Database(history []dbcluster.Switch, since time.Time) []Event {
	var out []Event
	for _, s := range history {
		if s.At.IsZero() || s.At.Before(since) {
			continue
		}
		who := "a member"
		if s.NewLeader != "" {
			who = s.NewLeader
		}
		out = append(out, Event{At: s.At, Subject: "database",
			What: fmt.Sprintf("%s became the primary (timeline %d after %d): %s", who, s.Timeline+1, s.Timeline, s.Reason)})
	}
	return out
}

// sortEvents orders events by time, then subject.
func sortEvents(events []Event) {
	sort.SliceStable(events, func(i, k int) bool {
		if !events[i].At.Equal(events[k].At) {
			return events[i].At.Before(events[k].At)
		}
		return events[i].Subject < events[k].Subject
	})
}

// Write prints the events, oldest first, after a line counting what was
// lost.
func Write(w io.Writer, events []Event, since time.Time) {
	sortEvents(events)
	fmt.Fprintf(w, "\nRecent events (since %s)\n", since.UTC().Format("2006-01-02 15:04 MST"))
	if len(events) == 0 {
		fmt.Fprintln(w, "  none: no node restarted or went down, no task died, no slot was missed, no database promotion")
		return
	}
	lost := 0
	for _, e := range events {
		if e.Lost {
			lost++
		}
	}
	if lost == 0 {
		fmt.Fprintf(w, "  %d events, nothing lost or missing\n", len(events))
	} else {
		fmt.Fprintf(w, "  %d events, %d of them lost or still missing (LOST)\n", len(events), lost)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\t\tSUBJECT\tWHAT")
	for _, e := range events {
		mark := ""
		if e.Lost {
			mark = "LOST"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.At.UTC().Format("01-02 15:04:05"), mark, e.Subject, e.What)
	}
	tw.Flush()
}

// span writes a delay: seconds with a tenth below two minutes, then
// whole minutes.
func span(d time.Duration) string {
	if d < 2*time.Minute {
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + " s"
	}
	return strconv.Itoa(int(d.Minutes())) + " min"
}
