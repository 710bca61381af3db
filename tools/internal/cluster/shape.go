package cluster

import (
	"fmt"
	"sort"

	"github.com/scryptpool/poolmicrocloud/tools/internal/capacity"
	"github.com/scryptpool/poolmicrocloud/tools/internal/config"
	"github.com/scryptpool/poolmicrocloud/tools/internal/jobspec"
)

// ModelClients shapes one Nomad client per node of the pool's cluster
// model: the node's CPU and memory, the agents' reservation (more on server
// nodes), and the host volumes capacity.VolumeNodes puts there, owned by
// the user the jobs mount them as. A local cluster of these places jobs
// exactly where the real nodes would run out.
func ModelClients(p *config.Pool, jobs []*jobspec.Job) []Client {
	owners := jobspec.VolumeOwners(jobs)
	model := capacity.Nodes(p.Cluster)
	clients := make([]Client, len(model))
	for i, n := range model {
		cl := p.Cluster
		c := Client{
			Name:             n.Name,
			CPUMHz:           cl.NodeCPUMHz,
			MemoryMB:         cl.NodeMemoryMB,
			ReservedCPUMHz:   cl.NodeCPUMHz - n.CPUMHz,
			ReservedMemoryMB: cl.NodeMemoryMB - n.MemoryMB,
		}
		for v := range n.Volumes {
			c.Volumes = append(c.Volumes, Volume{Name: v, Owner: owners[v]})
		}
		sort.Slice(c.Volumes, func(a, b int) bool { return c.Volumes[a].Name < c.Volumes[b].Name })
		clients[i] = c
	}
	return clients
}

// PiClients shapes n alike clients of the given size for a local cluster,
// each offering every host volume the jobs mount: a wallet or database
// moved off a node that lost power finds its volume (empty, in a dev
// cluster) wherever it lands.
func PiClients(n, cpuMHz, memoryMB int, jobs []*jobspec.Job) []Client {
	owners := jobspec.VolumeOwners(jobs)
	names := make([]string, 0, len(owners))
	for v := range owners {
		names = append(names, v)
	}
	sort.Strings(names)
	clients := make([]Client, n)
	for i := range clients {
		c := Client{Name: fmt.Sprintf("node-%02d", i+1), CPUMHz: cpuMHz, MemoryMB: memoryMB}
		for _, v := range names {
			c.Volumes = append(c.Volumes, Volume{Name: v, Owner: owners[v]})
		}
		clients[i] = c
	}
	return clients
}
