package cluster

import (
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
