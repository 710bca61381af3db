package deploy

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	nomadapi "github.com/hashicorp/nomad/api"

	"github.com/scryptpool/poolmicrocloud/tools/internal/jobspec"
)

// PlannedJob is one job with what the servers said of it.
type PlannedJob struct {
	*jobspec.Job
	// NotDeployable says why the job is not deployed yet (its program does
	// not exist); empty when it is deployable.
	NotDeployable string
	Plan          *nomadapi.JobPlanResponse
}

// Plan is the servers' verdict on every job of the pool.
type Plan struct {
	Jobs []*PlannedJob
}

// Invalid is returned when Nomad's servers reject a job as invalid.
type Invalid struct{ Problems []string }

func (e *Invalid) Error() string {
	return "Nomad rejected the jobs:\n  " + strings.Join(e.Problems, "\n  ")
}

// MakePlan validates every job on the servers and plans it with a diff.
// Jobs whose poolctl subcommand is not implemented are planned too (they
// must be valid) but marked not deployable.
func MakePlan(ctx context.Context, c *Clients, jobs []*jobspec.Job, implemented func(string) bool) (*Plan, error) {
	w := (&nomadapi.WriteOptions{}).WithContext(ctx)
	p := &Plan{}
	var problems []string
	for _, j := range jobs {
		v, _, err := c.Nomad.Jobs().Validate(j.Job, w)
		if err != nil {
			return nil, APIError(c.NomadAt, fmt.Sprintf("validate job %q", j.ID()), err)
		}
		for _, e := range v.ValidationErrors {
			problems = append(problems, fmt.Sprintf("%s: %s", j.ID(), e))
		}
		if v.Error != "" && len(v.ValidationErrors) == 0 {
			problems = append(problems, fmt.Sprintf("%s: %s", j.ID(), firstLine(v.Error)))
		}
	}
	if len(problems) > 0 {
		return nil, &Invalid{Problems: problems}
	}
	for _, j := range jobs {
		pj := &PlannedJob{Job: j}
		if j.Subcommand != "" && !implemented(j.Subcommand) {
			pj.NotDeployable = fmt.Sprintf("runs `poolctl %s`, which this poolctl does not implement yet", j.Subcommand)
		}
		resp, _, err := c.Nomad.Jobs().Plan(j.Job, true, w)
		if err != nil {
			return nil, APIError(c.NomadAt, fmt.Sprintf("plan job %q", j.ID()), err)
		}
		pj.Plan = resp
		p.Jobs = append(p.Jobs, pj)
	}
	return p, nil
}

// Unplaceable lists the deployable jobs the scheduler could not place.
func (p *Plan) Unplaceable() []*PlannedJob {
	var out []*PlannedJob
	for _, j := range p.Jobs {
		if j.NotDeployable == "" && len(j.Plan.FailedTGAllocs) > 0 {
			out = append(out, j)
		}
	}
	return out
}

// Write prints the plan the way `nomad job plan` does, job by job: the
// diff, what the scheduler would do, and why it could not place what it
// could not.
func (p *Plan) Write(w io.Writer) {
	for _, j := range p.Jobs {
		writeJobDiff(w, j.Plan.Diff)
		if j.NotDeployable != "" {
			fmt.Fprintf(w, "  not deployable yet: %s\n", j.NotDeployable)
		}
		if a := j.Plan.Annotations; a != nil {
			groups := make([]string, 0, len(a.DesiredTGUpdates))
			for g := range a.DesiredTGUpdates {
				groups = append(groups, g)
			}
			sort.Strings(groups)
			for _, g := range groups {
				if s := updateSummary(a.DesiredTGUpdates[g]); s != "" {
					fmt.Fprintf(w, "  scheduler: group %q: %s\n", g, s)
				}
			}
		}
		if !j.Plan.NextPeriodicLaunch.IsZero() {
			fmt.Fprintf(w, "  next periodic launch: %s\n", j.Plan.NextPeriodicLaunch.UTC().Format("2006-01-02 15:04:05 MST"))
		}
		writeFailures(w, j.Plan.FailedTGAllocs)
		if warn := strings.TrimSpace(j.Plan.Warnings); warn != "" {
			fmt.Fprintf(w, "  warnings: %s\n", strings.ReplaceAll(warn, "\n", "\n    "))
		}
		fmt.Fprintln(w)
	}
}

func updateSummary(u *nomadapi.DesiredUpdates) string {
	var parts []string
	for _, x := range []struct {
		n    uint64
		what string
	}{
		{u.Place, "create"}, {u.Stop, "destroy"}, {u.Migrate, "migrate"},
		{u.InPlaceUpdate, "in-place update"}, {u.DestructiveUpdate, "create/destroy update"},
		{u.Canary, "canary"}, {u.Preemptions, "preempt"}, {u.Ignore, "ignore"},
	} {
		if x.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", x.n, x.what))
		}
	}
	return strings.Join(parts, ", ")
}

// writeFailures prints placement failures in Nomad's own words.
func writeFailures(w io.Writer, failed map[string]*nomadapi.AllocationMetric) {
	groups := make([]string, 0, len(failed))
	for g := range failed {
		groups = append(groups, g)
	}
	sort.Strings(groups)
	for _, g := range groups {
		m := failed[g]
		fmt.Fprintf(w, "  placement failure: group %q (%d allocation(s) could not be placed)\n", g, m.CoalescedFailures+1)
		for _, line := range FailureReasons(m) {
			fmt.Fprintf(w, "    * %s\n", line)
		}
	}
}

// FailureReasons explains an allocation metric as Nomad's CLI does.
func FailureReasons(m *nomadapi.AllocationMetric) []string {
	var out []string
	if m.NodesEvaluated == 0 {
		out = append(out, "no nodes were eligible for evaluation")
	}
	for dc, n := range m.NodesAvailable {
		if n == 0 {
			out = append(out, fmt.Sprintf("no nodes are available in datacenter %q", dc))
		}
	}
	out = append(out, sortedCounts(m.ClassFiltered, "class %q: %d nodes excluded by filter")...)
	out = append(out, sortedCounts(m.ConstraintFiltered, "constraint %q: %d nodes excluded by filter")...)
	if m.NodesExhausted > 0 {
		out = append(out, fmt.Sprintf("resources exhausted on %d nodes", m.NodesExhausted))
	}
	out = append(out, sortedCounts(m.ClassExhausted, "class %q exhausted on %d nodes")...)
	out = append(out, sortedCounts(m.DimensionExhausted, "dimension %q exhausted on %d nodes")...)
	for _, q := range m.QuotaExhausted {
		out = append(out, "quota limit hit "+q)
	}
	return out
}

func sortedCounts(m map[string]int, format string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, fmt.Sprintf(format, k, m[k]))
	}
	return out
}

var diffMarks = map[string]string{"Added": "+", "Deleted": "-", "Edited": "+/-", "None": ""}

func writeJobDiff(w io.Writer, d *nomadapi.JobDiff) {
	if d == nil {
		return
	}
	switch d.Type {
	case "Added":
		fmt.Fprintf(w, "+ Job: %q (new)\n", d.ID)
		return
	case "None":
		fmt.Fprintf(w, "Job: %q (no changes)\n", d.ID)
		return
	}
	fmt.Fprintf(w, "%s Job: %q\n", diffMarks[d.Type], d.ID)
	writeFields(w, "  ", d.Fields)
	writeObjects(w, "  ", d.Objects)
	for _, tg := range d.TaskGroups {
		if tg.Type == "None" {
			continue
		}
		fmt.Fprintf(w, "  %s Task Group: %q\n", diffMarks[tg.Type], tg.Name)
		writeFields(w, "    ", tg.Fields)
		writeObjects(w, "    ", tg.Objects)
		for _, t := range tg.Tasks {
			if t.Type == "None" {
				continue
			}
			note := ""
			if len(t.Annotations) > 0 {
				note = " (" + strings.Join(t.Annotations, ", ") + ")"
			}
			fmt.Fprintf(w, "    %s Task: %q%s\n", diffMarks[t.Type], t.Name, note)
			writeFields(w, "      ", t.Fields)
			writeObjects(w, "      ", t.Objects)
		}
	}
}

func writeFields(w io.Writer, indent string, fields []*nomadapi.FieldDiff) {
	for _, f := range fields {
		switch f.Type {
		case "Added":
			fmt.Fprintf(w, "%s+ %s: %q\n", indent, f.Name, f.New)
		case "Deleted":
			fmt.Fprintf(w, "%s- %s: %q\n", indent, f.Name, f.Old)
		case "Edited":
			fmt.Fprintf(w, "%s+/- %s: %q => %q\n", indent, f.Name, f.Old, f.New)
		}
	}
}

func writeObjects(w io.Writer, indent string, objects []*nomadapi.ObjectDiff) {
	for _, o := range objects {
		if o.Type == "None" {
			continue
		}
		fmt.Fprintf(w, "%s%s %s {\n", indent, diffMarks[o.Type], o.Name)
		writeFields(w, indent+"  ", o.Fields)
		writeObjects(w, indent+"  ", o.Objects)
		fmt.Fprintf(w, "%s}\n", indent)
	}
}
