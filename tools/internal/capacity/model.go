// Package capacity checks that a pool's jobs fit its cluster model, with
// every node up and after losing nodes, the way Nomad's scheduler would
// place them: per node CPU and memory left after the agents' reservation,
// static ports, and host volumes that only some nodes have.
package capacity

import (
	"fmt"
	"slices"
	"sort"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/nomad/api"

	"github.com/scryptpool/poolmicrocloud/tools/internal/config"
	"github.com/scryptpool/poolmicrocloud/tools/internal/jobspec"
)

// Node is one node of the model, with what it offers to jobs.
type Node struct {
	Name     string
	Server   bool
	CPUMHz   int // after reservation
	MemoryMB int // after reservation
	Volumes  map[string]bool
}

// Nodes builds the model's nodes: servers first, then clients, with the
// host volumes laid out by VolumeNodes.
func Nodes(cl *config.Cluster) []Node {
	nodes := make([]Node, cl.Nodes)
	for i := range nodes {
		n := Node{
			Name:     fmt.Sprintf("node-%02d", i+1),
			Server:   i < cl.Servers,
			CPUMHz:   cl.NodeCPUMHz - cl.ReservedCPUMHz,
			MemoryMB: cl.NodeMemoryMB - cl.ReservedMemoryMB,
			Volumes:  map[string]bool{},
		}
		if n.Server {
			n.CPUMHz -= cl.ServerReservedCPUMHz
			n.MemoryMB -= cl.ServerReservedMemoryMB
		}
		nodes[i] = n
	}
	for name, holders := range VolumeNodes(cl) {
		for _, i := range holders {
			nodes[i].Volumes[name] = true
		}
	}
	return nodes
}

// VolumeNodes says which nodes (by index) hold each host volume. Volumes
// are laid out from the last node backwards in the order they are declared,
// each on its own nodes while there are nodes left, so that chain data and
// the database do not compete for the same few nodes; servers come last.
// Provisioning and `poolctl dev up` follow the same layout.
func VolumeNodes(cl *config.Cluster) map[string][]int {
	out := map[string][]int{}
	next := cl.Nodes - 1
	for _, v := range cl.HostVolumes {
		for k := 0; k < v.Nodes && k < cl.Nodes; k++ {
			out[v.Name] = append(out[v.Name], next)
			next = (next - 1 + cl.Nodes) % cl.Nodes
		}
	}
	return out
}

// Demand is one allocation to place: an instance of a task group.
type Demand struct {
	Job      string
	Group    string
	Index    int
	CPUMHz   int
	MemoryMB int
	Ports    []int
	Volumes  []string
	// Spread is set for groups that Nomad spreads over nodes.
	Spread bool
	// Distinct is set for groups whose instances may never share a node
	// (a distinct_hosts constraint): the database's members.
	Distinct bool
	Source   hcl.Range
}

func (d Demand) String() string {
	return fmt.Sprintf("%s.%s[%d]", d.Job, d.Group, d.Index)
}

// Demands lists the allocations of jobs, in deployment order.
func Demands(jobs []*jobspec.Job) []Demand {
	var out []Demand
	for _, j := range jobs {
		for _, g := range j.Job.TaskGroups {
			cpu, mem := groupResources(g)
			var ports []int
			for _, n := range g.Networks {
				for _, p := range n.ReservedPorts {
					ports = append(ports, p.Value)
				}
			}
			var volumes []string
			for _, v := range g.Volumes {
				if v.Type == "host" {
					volumes = append(volumes, v.Source)
				}
			}
			sort.Strings(volumes)
			count := 1
			if g.Count != nil {
				count = *g.Count
			}
			distinct := slices.ContainsFunc(g.Constraints, func(c *api.Constraint) bool {
				return c.Operand == api.ConstraintDistinctHosts && (c.RTarget == "" || c.RTarget == "true")
			})
			for i := 0; i < count; i++ {
				out = append(out, Demand{
					Job: j.ID(), Group: *g.Name, Index: i,
					CPUMHz: cpu, MemoryMB: mem, Ports: ports, Volumes: volumes,
					Spread: len(g.Spreads) > 0, Distinct: distinct, Source: j.Source,
				})
			}
		}
	}
	return out
}

// groupResources is what Nomad reserves for one allocation of g: the main
// tasks together, or the prestart tasks together if those are larger, per
// dimension (nomad/structs AllocatedResources.Comparable).
func groupResources(g *api.TaskGroup) (cpu, mem int) {
	var mainCPU, mainMem, preCPU, preMem int
	for _, t := range g.Tasks {
		if t.Resources == nil {
			continue
		}
		c, m := deref(t.Resources.CPU), deref(t.Resources.MemoryMB)
		switch {
		case t.Lifecycle == nil, t.Lifecycle.Hook == "poststart":
			mainCPU, mainMem = mainCPU+c, mainMem+m
		case t.Lifecycle.Hook == "prestart" && t.Lifecycle.Sidecar:
			mainCPU, mainMem = mainCPU+c, mainMem+m
			preCPU, preMem = preCPU+c, preMem+m
		case t.Lifecycle.Hook == "prestart":
			preCPU, preMem = preCPU+c, preMem+m
		}
	}
	return max(mainCPU, preCPU), max(mainMem, preMem)
}

func deref(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}
