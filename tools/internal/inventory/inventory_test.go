package inventory_test

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/inventory"
	"github.com/scryptpool/poolmicrocloud/tools/internal/validate"
)

var update = flag.Bool("update", false, "rewrite the checked-in inventories from the examples")

// The checked-in inventory of each example is what poolctl inventory
// generates from its pool.hcl: a change to the cluster block there needs
// a regenerated inventory.
func TestCheckedInInventories(t *testing.T) {
	for _, tc := range []struct{ example, inventory string }{
		{"examples/home-12pi/pool.hcl", "ansible/inventories/home-12pi/hosts.yml"},
	} {
		t.Run(tc.example, func(t *testing.T) {
			root := filepath.Join("..", "..", "..")
			r := validate.File(filepath.Join(root, tc.example))
			require.True(t, r.OK(), "%s is invalid", tc.example)
			got := inventory.Build(tc.example, r.Pool, r.Jobs).YAML()
			path := filepath.Join(root, tc.inventory)
			if *update {
				require.NoError(t, os.WriteFile(path, got, 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err)
			require.Equal(t, string(want), string(got),
				"%s is stale: go build -o bin/poolctl ./tools/cmd/poolctl && bin/poolctl inventory -o %s %s", tc.inventory, tc.inventory, tc.example)
		})
	}
}

func TestBuildPlacesServersAndVolumes(t *testing.T) {
	r := validate.File(filepath.Join("..", "..", "..", "examples", "home-12pi", "pool.hcl"))
	require.True(t, r.OK())
	inv := inventory.Build("pool.hcl", r.Pool, r.Jobs)
	require.Len(t, inv.Nodes, 12)
	servers := 0
	volumes := map[string][]string{}
	for _, n := range inv.Nodes {
		if n.Server {
			servers++
			require.Equal(t, 800, n.ReservedCPUMHz, n.Name)
			require.Equal(t, 350, n.ReservedMemoryMB, n.Name)
		} else {
			require.Equal(t, 400, n.ReservedCPUMHz, n.Name)
		}
		for _, v := range n.Volumes {
			volumes[v.Name+"/"+v.Owner] = append(volumes[v.Name+"/"+v.Owner], n.Name)
		}
	}
	require.Equal(t, 3, servers)
	require.Equal(t, map[string][]string{
		"ltc-chain/nobody":     {"node-09", "node-10", "node-11", "node-12"},
		"pool-data/postgres":   {"node-06", "node-07", "node-08"},
		"pool-backup/postgres": {"node-04", "node-05"},
	}, volumes)
	require.Equal(t, []int{3333}, inv.StratumPorts)
	require.Equal(t, []string{"192.168.1.0/24"}, inv.LAN)
}
