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

// Place assigns demands to nodes in order, each to a node with room for it,
// with the static ports it needs free and the host volumes it mounts.
// Among such nodes it picks, like Nomad's spread and bin-packing scores, the
// one with fewest instances of the same group, then the fullest.
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
	for _, d := range demands {
		group := d.Job + "." + d.Group
		best := -1
		exhausted := map[string]int{}
		for i, n := range nodes {
			if reason := p.unfit(i, n, d, ports[i]); reason != "" {
				exhausted[reason]++
				continue
			}
			if best < 0 || better(d, i, best, groupCount, group, p.FreeMem) {
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

func better(d Demand, i, best int, groupCount []map[string]int, group string, freeMem []int) bool {
	if d.Spread && groupCount[i][group] != groupCount[best][group] {
		return groupCount[i][group] < groupCount[best][group]
	}
	return freeMem[i] < freeMem[best]
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
