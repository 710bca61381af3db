package capacity

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Failure is an allocation that found no node, and why, in the words of
// Nomad's placement failures.
type Failure struct {
	Demand Demand
	// Exhausted counts, per reason, the nodes that could not take it.
	Exhausted map[string]int
}

func (f Failure) String() string {
	reasons := make([]string, 0, len(f.Exhausted))
	for r := range f.Exhausted {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	parts := make([]string, 0, len(reasons))
	for _, r := range reasons {
		parts = append(parts, fmt.Sprintf("%s on %d node%s", r, f.Exhausted[r], plural(f.Exhausted[r])))
	}
	return fmt.Sprintf("%s (%d MHz, %d MiB) cannot be placed: %s",
		f.Demand, f.Demand.CPUMHz, f.Demand.MemoryMB, strings.Join(parts, ", "))
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// Placement is where each allocation went, and what is left on each node.
type Placement struct {
	Nodes    []Node
	Assigned map[string]int // Demand.String() -> node index
	FreeCPU  []int
	FreeMem  []int
	Failures []Failure
}

// Fits tells whether every allocation was placed.
func (p *Placement) Fits() bool { return len(p.Failures) == 0 }

// Place assigns demands to nodes, each to a node with room for it, with
// the static ports it needs free and the host volumes it mounts. It answers
// whether a placement exists, so it places the most constrained demands
// first (host volumes few nodes hold, then static ports, then the largest),
// and among the nodes that can take a demand it picks, like Nomad's spread
// and bin-packing scores, the one with fewest instances of the same group,
// then the one whose scarce volumes the demand does not need, then the
// fullest.
func Place(nodes []Node, demands []Demand) *Placement {
	p := &Placement{
		Nodes:    nodes,
		Assigned: map[string]int{},
		FreeCPU:  make([]int, len(nodes)),
		FreeMem:  make([]int, len(nodes)),
	}
	ports := make([]map[int]bool, len(nodes))
	groupCount := make([]map[string]int, len(nodes))
	for i, n := range nodes {
		p.FreeCPU[i], p.FreeMem[i] = n.CPUMHz, n.MemoryMB
		ports[i] = map[int]bool{}
		groupCount[i] = map[string]int{}
	}
	holders := map[string]int{}
	for _, n := range nodes {
		for v := range n.Volumes {
			holders[v]++
		}
	}
	for _, d := range mostConstrainedFirst(demands, holders, len(nodes)) {
		group := d.Job + "." + d.Group
		best := -1
		exhausted := map[string]int{}
		for i, n := range nodes {
			reason := p.unfit(i, n, d, ports[i])
			if reason == "" && d.Distinct && groupCount[i][group] > 0 {
				reason = "distinct_hosts: another instance of the group is there"
			}
			if reason != "" {
				exhausted[reason]++
				continue
			}
			if best < 0 || p.better(d, i, best, groupCount, group) {
				best = i
			}
		}
		if best < 0 {
			p.Failures = append(p.Failures, Failure{Demand: d, Exhausted: exhausted})
			continue
		}
		p.Assigned[d.String()] = best
		p.FreeCPU[best] -= d.CPUMHz
		p.FreeMem[best] -= d.MemoryMB
		for _, port := range d.Ports {
			ports[best][port] = true
		}
		groupCount[best][group]++
	}
	return p
}

func mostConstrainedFirst(demands []Demand, holders map[string]int, nodes int) []Demand {
	scarcity := func(d Demand) int {
		s := nodes
		for _, v := range d.Volumes {
			s = min(s, holders[v])
		}
		return s
	}
	out := slices.Clone(demands)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if sa, sb := scarcity(a), scarcity(b); sa != sb {
			return sa < sb
		}
		if (len(a.Ports) > 0) != (len(b.Ports) > 0) {
			return len(a.Ports) > 0
		}
		return a.MemoryMB > b.MemoryMB
	})
	return out
}

// unfit says why node i cannot take d, or "" when it can. The reasons are
// Nomad's: a missing volume filters the node out before resources count.
func (p *Placement) unfit(i int, n Node, d Demand, usedPorts map[int]bool) string {
	for _, v := range d.Volumes {
		if !n.Volumes[v] {
			return fmt.Sprintf("missing host volume %q", v)
		}
	}
	for _, port := range d.Ports {
		if usedPorts[port] {
			return fmt.Sprintf("port %d taken", port)
		}
	}
	if p.FreeMem[i] < d.MemoryMB {
		return `dimension "memory" exhausted`
	}
	if p.FreeCPU[i] < d.CPUMHz {
		return `dimension "cpu" exhausted`
	}
	return ""
}

func (p *Placement) better(d Demand, i, best int, groupCount []map[string]int, group string) bool {
	if d.Spread && groupCount[i][group] != groupCount[best][group] {
		return groupCount[i][group] < groupCount[best][group]
	}
	if wi, wb := p.spareVolumes(i, d), p.spareVolumes(best, d); wi != wb {
		return wi < wb
	}
	return p.FreeMem[i] < p.FreeMem[best]
}

// spareVolumes counts the host volumes of node i that d does not mount:
// room there is worth keeping for the jobs that can only run there.
func (p *Placement) spareVolumes(i int, d Demand) int {
	n := 0
	for v := range p.Nodes[i].Volumes {
		if !slices.Contains(d.Volumes, v) {
			n++
		}
	}
	return n
}

// Totals sums what the nodes offer and what the demands take.
func Totals(nodes []Node, demands []Demand) (cpu, mem, needCPU, needMem int) {
	for _, n := range nodes {
		cpu += n.CPUMHz
		mem += n.MemoryMB
	}
	for _, d := range demands {
		needCPU += d.CPUMHz
		needMem += d.MemoryMB
	}
	return
}

// without returns the nodes but those at the given indexes.
func without(nodes []Node, lost []int) []Node {
	out := make([]Node, 0, len(nodes)-len(lost))
	for i, n := range nodes {
		if !slices.Contains(lost, i) {
			out = append(out, n)
		}
	}
	return out
}
