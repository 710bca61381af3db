package capacity_test

import (
	"testing"

	"github.com/hashicorp/nomad/api"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/capacity"
	"github.com/scryptpool/poolmicrocloud/tools/internal/config"
	"github.com/scryptpool/poolmicrocloud/tools/internal/jobspec"
)

func nodes(n, cpu, mem int, volumes ...string) []capacity.Node {
	out := make([]capacity.Node, n)
	for i := range out {
		out[i] = capacity.Node{Name: string(rune('a' + i)), CPUMHz: cpu, MemoryMB: mem, Volumes: map[string]bool{}}
		for _, v := range volumes {
			out[i].Volumes[v] = true
		}
	}
	return out
}

func demand(job string, count, cpu, mem int, spread bool, ports []int, volumes ...string) []capacity.Demand {
	var out []capacity.Demand
	for i := 0; i < count; i++ {
		out = append(out, capacity.Demand{Job: job, Group: "g", Index: i, CPUMHz: cpu, MemoryMB: mem, Spread: spread, Ports: ports, Volumes: volumes})
	}
	return out
}

func TestPlace(t *testing.T) {
	cases := []struct {
		name     string
		nodes    []capacity.Node
		demands  []capacity.Demand
		fits     bool
		exhausts string
	}{
		{"fits exactly", nodes(2, 1000, 1000), demand("w", 2, 1000, 1000, false, nil), true, ""},
		{"one MiB too many", nodes(2, 1000, 1000), demand("w", 2, 1000, 1001, false, nil), false, `dimension "memory" exhausted`},
		{"cpu exhausted", nodes(1, 1000, 4000), demand("w", 2, 600, 100, false, nil), false, `dimension "cpu" exhausted`},
		{"static port once per node", nodes(2, 4000, 4000), demand("s", 3, 100, 100, true, []int{3333}), false, "port 3333 taken"},
		{"static port on distinct nodes", nodes(3, 4000, 4000), demand("s", 3, 100, 100, true, []int{3333}), true, ""},
		{"volume missing", nodes(2, 4000, 4000), demand("d", 1, 100, 100, false, nil, "pool-data"), false, `missing host volume "pool-data"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := capacity.Place(tc.nodes, tc.demands)
			assert.Equal(t, tc.fits, p.Fits())
			if tc.exhausts != "" {
				require.NotEmpty(t, p.Failures)
				assert.Contains(t, p.Failures[0].String(), tc.exhausts)
			}
		})
	}
}

func TestSpreadPutsInstancesOnDifferentNodes(t *testing.T) {
	p := capacity.Place(nodes(3, 4000, 4000), demand("w", 3, 100, 100, true, nil))
	require.True(t, p.Fits())
	seen := map[int]bool{}
	for _, idx := range p.Assigned {
		seen[idx] = true
	}
	assert.Len(t, seen, 3)
}

func TestPrestartTasksCountAsTheLargerPhase(t *testing.T) {
	job := &jobspec.Job{Job: &api.Job{ID: ptr("j"), TaskGroups: []*api.TaskGroup{{
		Name: ptr("g"), Count: ptr(1),
		Tasks: []*api.Task{
			{Name: "init", Lifecycle: &api.TaskLifecycle{Hook: "prestart"}, Resources: &api.Resources{CPU: ptr(900), MemoryMB: ptr(10)}},
			{Name: "main", Resources: &api.Resources{CPU: ptr(100), MemoryMB: ptr(500)}},
			{Name: "side", Lifecycle: &api.TaskLifecycle{Hook: "prestart", Sidecar: true}, Resources: &api.Resources{CPU: ptr(50), MemoryMB: ptr(20)}},
		},
	}}}}
	d := capacity.Demands([]*jobspec.Job{job})
	require.Len(t, d, 1)
	// Main phase: 100+50 CPU, 500+20 MiB; prestart phase: 900+50, 10+20.
	assert.Equal(t, 950, d[0].CPUMHz)
	assert.Equal(t, 520, d[0].MemoryMB)
}

func clusterModel(nodesN, servers, tolerate int, volumes ...*config.HostVolume) *config.Cluster {
	return &config.Cluster{
		Servers: servers, Nodes: nodesN, NodeCPUMHz: 4800, NodeMemoryMB: 1024,
		ReservedMemoryMB: 200, ServerReservedMemoryMB: 150, TolerateNodeFailures: tolerate,
		HostVolumes: volumes,
	}
}

func TestVolumeLayout(t *testing.T) {
	cl := clusterModel(12, 3, 1, &config.HostVolume{Name: "chain", Nodes: 4}, &config.HostVolume{Name: "data", Nodes: 1})
	layout := capacity.VolumeNodes(cl)
	assert.Equal(t, []int{11, 10, 9, 8}, layout["chain"])
	assert.Equal(t, []int{7}, layout["data"])
	// Wrapping around when volumes want more nodes than are left.
	small := clusterModel(2, 1, 0, &config.HostVolume{Name: "chain", Nodes: 2}, &config.HostVolume{Name: "data", Nodes: 1})
	assert.Equal(t, []int{1}, capacity.VolumeNodes(small)["data"])
}

func TestNodeLoss(t *testing.T) {
	mk := func(memory int) []*jobspec.Job {
		return []*jobspec.Job{{Job: &api.Job{ID: ptr("w"), TaskGroups: []*api.TaskGroup{{
			Name: ptr("g"), Count: ptr(2), Spreads: []*api.Spread{{Attribute: "${node.unique.id}"}},
			Volumes: map[string]*api.VolumeRequest{"chain": {Type: "host", Source: "chain"}},
			Tasks:   []*api.Task{{Name: "t", Resources: &api.Resources{CPU: ptr(100), MemoryMB: ptr(memory)}}},
		}}}}}
	}
	cases := []struct {
		name        string
		chainNodes  int
		memory      int
		wantMaxLoss int
	}{
		// Two wallets of 600 MiB need two chain nodes with 824 MiB each.
		{"four chain nodes survive two losses", 4, 600, 2},
		{"two chain nodes survive none", 2, 600, 0},
		// Two 400 MiB wallets share one node after losses.
		{"small wallets share a node", 2, 400, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cl := clusterModel(5, 1, 0, &config.HostVolume{Name: "chain", Nodes: tc.chainNodes})
			r := capacity.Analyze(cl, mk(tc.memory))
			require.True(t, r.All.Fits())
			assert.Equal(t, tc.wantMaxLoss, r.MaxLoss)
		})
	}
}

func TestSingleNodeVolumeStopsRatherThanBreaks(t *testing.T) {
	cl := clusterModel(3, 1, 1, &config.HostVolume{Name: "data", Nodes: 1})
	jobs := []*jobspec.Job{{Job: &api.Job{ID: ptr("db"), TaskGroups: []*api.TaskGroup{{
		Name: ptr("g"), Count: ptr(1),
		Volumes: map[string]*api.VolumeRequest{"data": {Type: "host", Source: "data"}},
		Tasks:   []*api.Task{{Name: "t", Resources: &api.Resources{CPU: ptr(100), MemoryMB: ptr(100)}}},
	}}}}}
	r := capacity.Analyze(cl, jobs)
	assert.Equal(t, 2, r.MaxLoss, "losing the database's node stops it; it does not break placement")
	assert.Equal(t, []string{"db"}, r.SingleNodeVolumes["data"])
	assert.Empty(t, r.Diagnostics(cl, config.Pool{}.NameRange))
}

func ptr[T any](v T) *T { return &v }
