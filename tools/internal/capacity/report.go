package capacity

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// WriteSummary prints the capacity verdict for an operator: demand against
// supply, headroom, and how many nodes may be lost.
func (r *Report) WriteSummary(w io.Writer) {
	servers := 0
	for _, n := range r.Nodes {
		if n.Server {
			servers++
		}
	}
	cpu, mem, needCPU, needMem := Totals(r.Nodes, r.Demands)
	fmt.Fprintf(w, "capacity: %s (%s), %s\n", count(len(r.Nodes), "node"), count(servers, "server"), count(len(r.Demands), "allocation"))
	fmt.Fprintf(w, "  jobs need   %7d MHz CPU %7d MiB memory\n", needCPU, needMem)
	fmt.Fprintf(w, "  nodes offer %7d MHz CPU %7d MiB memory (after the agents' reservation)\n", cpu, mem)
	if !r.All.Fits() {
		fmt.Fprintf(w, "  does not fit: %d allocation(s) cannot be placed\n", len(r.All.Failures))
		return
	}
	fmt.Fprintf(w, "  headroom    %7d MHz CPU %7d MiB memory free with every node up (%s, %s)\n",
		cpu-needCPU, mem-needMem, percent(cpu-needCPU, cpu), percent(mem-needMem, mem))
	if r.Worst != nil {
		wc, wm := 0, 0
		for i := range r.Worst.Placement.Nodes {
			wc += r.Worst.Placement.FreeCPU[i]
			wm += r.Worst.Placement.FreeMem[i]
		}
		fmt.Fprintf(w, "  headroom    %7d MHz CPU %7d MiB memory free after losing %s, worst case (%s down)\n",
			wc, wm, count(r.Tolerate, "node"), strings.Join(r.Worst.Lost, ", "))
	}
	switch {
	case len(r.Nodes) == 1:
		fmt.Fprintf(w, "  node loss:  a single node: nothing to fail over to\n")
	case r.AtLeast:
		fmt.Fprintf(w, "  node loss:  everything still fits with any %s lost (more not checked: too many cases)\n", count(r.MaxLoss, "node"))
	case r.Breaking == nil:
		fmt.Fprintf(w, "  node loss:  everything still fits with any %s lost\n", count(r.MaxLoss, "node"))
	default:
		fmt.Fprintf(w, "  node loss:  everything still fits with any %s lost; losing %d (%s) does not\n",
			count(r.MaxLoss, "node"), r.MaxLoss+1, strings.Join(r.Breaking.Lost, ", "))
	}
	fmt.Fprintf(w, "              tolerate_node_failures = %d\n", r.Tolerate)
	volumes := make([]string, 0, len(r.SingleNodeVolumes))
	for v := range r.SingleNodeVolumes {
		volumes = append(volumes, v)
	}
	sort.Strings(volumes)
	for _, v := range volumes {
		fmt.Fprintf(w, "  host volume %q is on one node: while it is down, %s wait for it\n", v, strings.Join(r.SingleNodeVolumes[v], ", "))
	}
	fmt.Fprintln(w, "  per node (every node up):")
	for i, n := range r.Nodes {
		role := "client"
		if n.Server {
			role = "server"
		}
		var here []string
		for _, d := range r.Demands {
			if idx, ok := r.All.Assigned[d.String()]; ok && idx == i {
				here = append(here, d.String())
			}
		}
		fmt.Fprintf(w, "    %s %s %5d/%5d MHz %4d/%4d MiB used  %s\n", n.Name, role,
			n.CPUMHz-r.All.FreeCPU[i], n.CPUMHz, n.MemoryMB-r.All.FreeMem[i], n.MemoryMB, strings.Join(here, " "))
	}
}

func percent(part, whole int) string {
	if whole == 0 {
		return "0%"
	}
	return fmt.Sprintf("%d%%", part*100/whole)
}

func count(n int, noun string) string {
	return fmt.Sprintf("%d %s%s", n, noun, plural(n))
}
