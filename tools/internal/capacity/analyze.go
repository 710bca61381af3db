package capacity

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/scryptpool/poolmicrocloud/tools/internal/config"
	"github.com/scryptpool/poolmicrocloud/tools/internal/jobspec"
)

// LossCase is one set of lost nodes and how the jobs fare on the rest.
type LossCase struct {
	Lost      []string
	Placement *Placement
	// Stopped are the allocations that cannot run anywhere because the one
	// node holding their host volume is down: they wait for it to return.
	Stopped []Demand
}

// Report is the capacity verdict on a pool.
type Report struct {
	Nodes   []Node
	Demands []Demand
	// All is the placement with every node up.
	All *Placement
	// Tolerate is what the pool definition asks for (tolerate_node_failures).
	Tolerate int
	// MaxLoss is the largest k such that losing any k nodes leaves room for
	// everything that can still run; -1 when the jobs do not fit at all.
	MaxLoss int
	// Worst is, for k = Tolerate, the case leaving the least memory free;
	// nil when Tolerate is 0.
	Worst *LossCase
	// Breaking is a case of MaxLoss+1 lost nodes that does not fit; nil
	// when no loss short of all nodes breaks the pool.
	Breaking *LossCase
	// SingleNodeVolumes maps a host volume held by one node to the jobs
	// that stop while that node is down.
	SingleNodeVolumes map[string][]string
	// Unfinished is set when the loss cases up to Tolerate did not all
	// fit in the work budget; MaxLoss is then a lower bound at best.
	Unfinished bool
	// AtLeast is set when the search beyond Tolerate ran out of budget:
	// MaxLoss nodes may be lost, perhaps more.
	AtLeast bool
}

// workBudget bounds the node-loss search, in node x allocation
// comparisons: every way of losing k unlike nodes is tried, and that
// number grows fast with k and with how many kinds of nodes there are. A
// 12-Pi pool needs a few hundred thousand.
const workBudget = 5_000_000

// Analyze places jobs on the cluster model with every node up and after
// every combination of lost nodes, up to the first that breaks the pool.
func Analyze(cl *config.Cluster, jobs []*jobspec.Job) *Report {
	nodes := Nodes(cl)
	demands := Demands(jobs)
	r := &Report{
		Nodes:             nodes,
		Demands:           demands,
		All:               Place(nodes, demands),
		Tolerate:          cl.TolerateNodeFailures,
		SingleNodeVolumes: map[string][]string{},
	}
	single := map[string]bool{}
	for _, v := range cl.HostVolumes {
		if v.Nodes == 1 {
			single[v.Name] = true
		}
	}
	for _, d := range demands {
		for _, v := range d.Volumes {
			if single[v] && !slices.Contains(r.SingleNodeVolumes[v], d.Job) {
				r.SingleNodeVolumes[v] = append(r.SingleNodeVolumes[v], d.Job)
			}
		}
	}
	if !r.All.Fits() {
		r.MaxLoss = -1
		return r
	}
	r.MaxLoss = len(nodes) - 1
	work := 0
	for k := 1; k < len(nodes); k++ {
		var worst *LossCase
		sets := lossSets(nodes, k)
		if work+len(sets)*len(nodes)*len(demands) > workBudget {
			r.MaxLoss = k - 1
			if k <= r.Tolerate {
				r.Unfinished = true
			} else {
				r.AtLeast = true
			}
			break
		}
		work += len(sets) * len(nodes) * len(demands)
		for _, lost := range sets {
			c := lose(nodes, demands, lost)
			if !c.Placement.Fits() {
				r.Breaking = c
				break
			}
			if worst == nil || freeMem(c.Placement) < freeMem(worst.Placement) {
				worst = c
			}
		}
		if k == r.Tolerate {
			r.Worst = worst
		}
		if r.Breaking != nil {
			r.MaxLoss = k - 1
			break
		}
	}
	return r
}

func freeMem(p *Placement) int {
	total := 0
	for _, m := range p.FreeMem {
		total += m
	}
	return total
}

// lose places demands on nodes minus lost, leaving out the allocations
// whose single-node volume went down with its node.
func lose(nodes []Node, demands []Demand, lost []int) *LossCase {
	survivors := without(nodes, lost)
	available := map[string]bool{}
	for _, n := range survivors {
		for v := range n.Volumes {
			available[v] = true
		}
	}
	held := map[string]int{}
	for _, n := range nodes {
		for v := range n.Volumes {
			held[v]++
		}
	}
	c := &LossCase{}
	var running []Demand
	for _, d := range demands {
		stopped := false
		for _, v := range d.Volumes {
			if held[v] == 1 && !available[v] {
				stopped = true
			}
		}
		if stopped {
			c.Stopped = append(c.Stopped, d)
		} else {
			running = append(running, d)
		}
	}
	for _, i := range lost {
		c.Lost = append(c.Lost, nodes[i].Name)
	}
	c.Placement = Place(survivors, running)
	return c
}

// lossSets lists the distinct ways to lose k nodes. Nodes alike in role,
// size and volumes are interchangeable, so only how many of each kind are
// lost matters; the last ones of a kind stand for them.
func lossSets(nodes []Node, k int) [][]int {
	classes := nodeClasses(nodes)
	var out [][]int
	var walk func(ci, left int, acc []int)
	walk = func(ci, left int, acc []int) {
		if ci == len(classes) {
			if left == 0 {
				out = append(out, slices.Clone(acc))
			}
			return
		}
		members := classes[ci]
		for take := 0; take <= min(left, len(members)); take++ {
			walk(ci+1, left-take, append(acc, members[len(members)-take:]...))
		}
	}
	walk(0, k, nil)
	return out
}

// Diagnostics turns the report into errors for whatever does not fit.
func (r *Report) Diagnostics(cl *config.Cluster, whole hcl.Range) hcl.Diagnostics {
	var diags hcl.Diagnostics
	largestCPU, largestMem := 0, 0
	for _, n := range r.Nodes {
		largestCPU, largestMem = max(largestCPU, n.CPUMHz), max(largestMem, n.MemoryMB)
	}
	for _, f := range r.All.Failures {
		detail := f.String() + "."
		switch {
		case f.Demand.MemoryMB > largestMem:
			detail += fmt.Sprintf(" It needs %d MiB of memory; the largest node offers %d MiB after the agents' reservation.", f.Demand.MemoryMB, largestMem)
		case f.Demand.CPUMHz > largestCPU:
			detail += fmt.Sprintf(" It needs %d MHz of CPU; the largest node offers %d MHz after the agents' reservation.", f.Demand.CPUMHz, largestCPU)
		default:
			_, _, needCPU, needMem := Totals(r.Nodes, r.Demands)
			cpu, mem, _, _ := Totals(r.Nodes, nil)
			detail += fmt.Sprintf(" The jobs need %d MHz and %d MiB in all; the %d nodes offer %d MHz and %d MiB.", needCPU, needMem, len(r.Nodes), cpu, mem)
		}
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Jobs do not fit the cluster",
			Detail:   detail,
			Subject:  f.Demand.Source.Ptr(),
		})
	}
	if r.Unfinished {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Node failures too many to check",
			Detail: fmt.Sprintf("Checking every way of losing %d nodes of this cluster would take too long (%d kinds of nodes); the jobs survive losing %d. Lower tolerate_node_failures or declare fewer host volumes.",
				r.Tolerate, len(nodeClasses(r.Nodes)), r.MaxLoss),
			Subject: config.AttrRange(cl.Body, "tolerate_node_failures", whole).Ptr(),
		})
	}
	if r.All.Fits() && r.MaxLoss < r.Tolerate && r.Breaking != nil {
		var parts []string
		for _, f := range r.Breaking.Placement.Failures {
			parts = append(parts, f.String())
		}
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Jobs do not survive the node failures asked for",
			Detail: fmt.Sprintf("tolerate_node_failures is %d, but with %s down: %s. The cluster survives losing %d node%s. Add nodes, shrink the jobs or lower tolerate_node_failures.",
				r.Tolerate, strings.Join(r.Breaking.Lost, ", "), strings.Join(parts, "; "), r.MaxLoss, plural(r.MaxLoss)),
			Subject: config.AttrRange(cl.Body, "tolerate_node_failures", whole).Ptr(),
		})
	}
	return diags
}

// nodeClasses groups the nodes (by index) that are alike in role, size and
// host volumes.
func nodeClasses(nodes []Node) [][]int {
	byKey := map[string]int{}
	var classes [][]int
	for i, n := range nodes {
		vols := make([]string, 0, len(n.Volumes))
		for v := range n.Volumes {
			vols = append(vols, v)
		}
		sort.Strings(vols)
		key := fmt.Sprintf("%t/%d/%d/%s", n.Server, n.CPUMHz, n.MemoryMB, strings.Join(vols, ","))
		c, ok := byKey[key]
		if !ok {
			c = len(classes)
			byKey[key] = c
			classes = append(classes, nil)
		}
		classes[c] = append(classes[c], i)
	}
	return classes
}
