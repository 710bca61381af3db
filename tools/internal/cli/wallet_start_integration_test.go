package cli_test

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	nomadapi "github.com/hashicorp/nomad/api"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/cli"
	"github.com/scryptpool/poolmicrocloud/tools/internal/cluster"
	"github.com/scryptpool/poolmicrocloud/tools/internal/testenv"
)

// A wallet whose chain data is corrupt repairs itself when a rebuild can:
// poolctl wallet daemon restarts litecoind with -reindex, and deploy
// succeeds. Chain data no rebuild repairs (a chainstate that is a file,
// not a directory) never starts: deploy fails and says so in the daemon's
// own words and the supervisor's, and status keeps saying it.
func TestWalletWithCorruptChainData(t *testing.T) {
	cases := []struct {
		name    string
		corrupt func(t *testing.T, regtest string)
		repairs bool
	}{
		{
			name: "garbled CURRENT files: rebuilt",
			corrupt: func(t *testing.T, regtest string) {
				for _, db := range []string{"blocks/index", "chainstate"} {
					dir := filepath.Join(regtest, db)
					require.NoError(t, os.MkdirAll(dir, 0o755))
					require.NoError(t, os.WriteFile(filepath.Join(dir, "CURRENT"), []byte("not a leveldb manifest\n"), 0o644))
				}
			},
			repairs: true,
		},
		{
			name: "chainstate is a file: not repairable",
			corrupt: func(t *testing.T, regtest string) {
				require.NoError(t, os.MkdirAll(regtest, 0o755))
				require.NoError(t, os.WriteFile(filepath.Join(regtest, "chainstate"), []byte("not a leveldb directory\n"), 0o644))
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pool, jobs := testenv.LoadPool(t, dev)
			c := testenv.DevCluster(t, pool, jobs)
			volume := c.Clients()[0].Volumes["ltc-chain"]
			require.NotEmpty(t, volume)
			for _, instance := range []string{"0", "1"} {
				tc.corrupt(t, filepath.Join(volume, instance, "regtest"))
				require.NoError(t, filepath.Walk(filepath.Join(volume, instance), func(p string, _ os.FileInfo, err error) error {
					if err != nil {
						return err
					}
					return os.Chown(p, 65534, 65534)
				}))
			}
			code, stdout, stderr := run(t, append([]string{"deploy"}, append(connArgs(c), dev)...)...)
			if tc.repairs {
				require.Equal(t, cli.ExitOK, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
				return
			}
			require.Equal(t, cli.ExitFailed, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
			assert.Regexp(t, `ltc-wallet\s+stopped`, stdout)
			assert.Contains(t, stderr, "Error opening block database", "the daemon's own words")
			assert.Contains(t, stderr, "the rebuild did not repair it", "the supervisor's")

			code, stdout, _ = run(t, append([]string{"status"}, append(connArgs(c), dev)...)...)
			require.Equal(t, cli.ExitOK, code)
			assert.Contains(t, stdout, "ltc-wallet failed:")
			assert.Contains(t, stdout, "Error opening block database")
		})
	}
}

// Ports Nomad hands out that something else on the node already holds:
// the wallets that get them cannot bind, and deploy says which and why as
// soon as the wallet group has failed as often as it has instances, not at
// the progress deadline (eleven minutes for a regtest wallet). How long it
// took is logged, not asserted.
func TestPortTakenOutsideNomad(t *testing.T) {
	pool, jobs := testenv.LoadPool(t, dev)
	clients := cluster.ModelClients(pool, jobs)
	// Exactly the ports the database (PostgreSQL and Patroni's API) and
	// two wallets (rpc, p2p, probe each) need.
	const first, last = 24600, 24607
	clients[0].MinDynamicPort, clients[0].MaxDynamicPort = first, last
	c := testenv.StartCluster(t, pool, testenv.ClusterOptions{Clients: clients})

	type outcome struct {
		code           int
		stdout, stderr string
	}
	done := make(chan outcome, 1)
	started := time.Now()
	go func() {
		code, stdout, stderr := run(t, append([]string{"deploy"}, append(connArgs(c), dev)...)...)
		done <- outcome{code, stdout, stderr}
	}()
	// The database is placed first and the wallets only once it is
	// healthy: take every port the database did not get before they are.
	// All of them, because litecoind 0.21 keeps running when only its P2P
	// bind fails (it still binds the onion target on 127.0.0.1), so a
	// wallet is sure to fail only when its RPC or probe port is taken.
	dbPorts := allocatedPorts(t, c, "devpool-database")
	var ports []string
	for port := first; port <= last; port++ {
		if slices.Contains(dbPorts, port) {
			continue
		}
		taken, err := net.Listen("tcp", net.JoinHostPort(c.Nodes[0].IP, strconv.Itoa(port)))
		require.NoError(t, err)
		defer taken.Close()
		ports = append(ports, strconv.Itoa(port))
	}

	o := <-done
	t.Logf("deploy failed after %s", time.Since(started).Round(time.Second))
	require.Equal(t, cli.ExitFailed, o.code, "stdout:\n%s\nstderr:\n%s", o.stdout, o.stderr)
	assert.Regexp(t, `ltc-wallet: group "wallet" has had \d+ failed allocations for 2 instances \(\d+ healthy\); failing the deployment`,
		o.stdout+o.stderr, "deploy failed the rollout itself instead of waiting for the progress deadline")
	assert.Regexp(t, `devpool-database\s+healthy`, o.stdout)
	assert.Regexp(t, `ltc-wallet\s+stopped`, o.stdout)
	// litecoind: "Binding RPC on address ... port N failed" or "Unable to
	// bind to ...:N"; the probe: "bind: address already in use".
	namesPort := false
	for _, port := range ports {
		namesPort = namesPort || strings.Contains(o.stderr, port)
	}
	assert.True(t, strings.Contains(strings.ToLower(o.stderr), "in use") || namesPort,
		"the cause names a taken port or says it is in use:\n%s", o.stderr)
}

// allocatedPorts waits, with blocking queries, for the job's first
// allocation and returns the host ports Nomad gave its group.
func allocatedPorts(t *testing.T, c *cluster.Cluster, job string) []int {
	t.Helper()
	nomad, err := c.NomadClient()
	require.NoError(t, err)
	var index uint64
	for {
		allocs, meta, err := nomad.Jobs().Allocations(job, false, &nomadapi.QueryOptions{WaitIndex: index, WaitTime: time.Minute})
		require.NoError(t, err)
		for _, stub := range allocs {
			a, _, err := nomad.Allocations().Info(stub.ID, nil)
			require.NoError(t, err)
			if a.AllocatedResources != nil && len(a.AllocatedResources.Shared.Ports) > 0 {
				var out []int
				for _, p := range a.AllocatedResources.Shared.Ports {
					out = append(out, p.Value)
				}
				return out
			}
		}
		index = meta.LastIndex
	}
}
