package failover_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	nomadapi "github.com/hashicorp/nomad/api"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/cluster"
	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
	"github.com/scryptpool/poolmicrocloud/tools/internal/failover"
	"github.com/scryptpool/poolmicrocloud/tools/internal/jobspec"
	"github.com/scryptpool/poolmicrocloud/tools/internal/testenv"
)

// Each failure the operator lived through, injected into the dev
// example's wallets on three Pi-sized nodes with real Nomad, Consul and
// litecoind: what must happen, and that the other wallet serves all along.
func TestWalletsHealThemselves(t *testing.T) {
	poolPath := testenv.Example(t, "dev")
	pool, jobs := testenv.LoadPool(t, poolPath)
	c := testenv.StartCluster(t, pool, testenv.ClusterOptions{
		Clients: cluster.PiClients(3, 4800, 1024, jobs),
		Servers: 1,
	})
	deployOutput := testenv.Deploy(t, c, poolPath)

	nomad, err := c.NomadClient()
	require.NoError(t, err)
	consul, err := c.ConsulClient()
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	// Every wait below is bounded by step, so that a failure to heal fails
	// the test instead of hanging it.
	const step = 3 * time.Minute
	obs := failover.NewObserver(ctx, consul, contract.WalletService("ltc"))
	allPassing := func(s failover.Snapshot) bool { return s.Passing() == 2 && len(s.Instances) == 2 }
	start, err := waitFor(ctx, step, obs, "both wallets passing", allPassing)
	require.NoError(t, err)
	require.NotEqual(t, nodeOf(t, nomad, start.Instances[0].AllocID), nodeOf(t, nomad, start.Instances[1].AllocID),
		"the two wallets must be spread over nodes")

	// victim picks the first instance; the other must keep serving.
	victim := func() (failover.Instance, failover.Instance) {
		s, err := waitFor(ctx, step, obs, "both wallets passing", allPassing)
		require.NoError(t, err)
		return s.Instances[0], s.Instances[1]
	}
	otherStayedUp := func(t *testing.T, other failover.Instance, since time.Time) {
		for _, s := range obs.Since(since) {
			inst, ok := s.Find(other.AllocID)
			assert.True(t, ok && inst.Passing, "the other wallet was not passing at %s: %+v", s.At.Format(time.RFC3339Nano), inst)
		}
	}

	t.Run("the RPC credentials stay in the Nomad variable", func(t *testing.T) {
		secretsStaySecret(t, c, nomad, consul, poolPath, deployOutput, start)
	})

	t.Run("crash: restarted in place", func(t *testing.T) {
		v, other := victim()
		before, err := failover.Restarts(ctx, nomad, v.AllocID, "daemon")
		require.NoError(t, err)
		t0 := time.Now()
		require.NoError(t, failover.Crash(v.AllocID))
		_, err = waitFor(ctx, step, obs, "the crashed wallet out of service", func(s failover.Snapshot) bool {
			i, ok := s.Find(v.AllocID)
			return !ok || !i.Passing
		})
		require.NoError(t, err)
		_, err = waitFor(ctx, step, obs, "the crashed wallet back", allPassing)
		require.NoError(t, err)
		after, err := failover.Restarts(ctx, nomad, v.AllocID, "daemon")
		require.NoError(t, err)
		assert.Greater(t, after, before, "Nomad restarts the crashed daemon in place")
		otherStayedUp(t, other, t0)
	})

	t.Run("hang: detected and restarted", func(t *testing.T) {
		v, other := victim()
		require.NoError(t, failover.WaitPastGrace(ctx, nomad, v.AllocID, "daemon", 5*time.Second))
		before, err := failover.Restarts(ctx, nomad, v.AllocID, "daemon")
		require.NoError(t, err)
		t0 := time.Now()
		require.NoError(t, failover.Hang(v.AllocID))
		defer func() { _ = failover.Resume(v.AllocID) }()
		_, err = waitFor(ctx, step, obs, "the hung wallet critical", func(s failover.Snapshot) bool {
			i, ok := s.Find(v.AllocID)
			return !ok || i.Status == "critical"
		})
		require.NoError(t, err)
		_, err = waitFor(ctx, step, obs, "the hung wallet replaced by a restart", allPassing)
		require.NoError(t, err)
		after, err := failover.Restarts(ctx, nomad, v.AllocID, "daemon")
		require.NoError(t, err)
		assert.Greater(t, after, before, "check_restart restarts the hung daemon")
		otherStayedUp(t, other, t0)
	})

	t.Run("lag: out of service while behind, not restarted", func(t *testing.T) {
		v, other := victim()
		lagging, err := failover.WalletClient(ctx, nomad, jobspec.WalletSecretsPath("ltc"), v.Address)
		require.NoError(t, err)
		miner, err := failover.WalletClient(ctx, nomad, jobspec.WalletSecretsPath("ltc"), other.Address)
		require.NoError(t, err)
		before, err := failover.Restarts(ctx, nomad, v.AllocID, "daemon")
		require.NoError(t, err)
		t0 := time.Now()
		require.NoError(t, lagging.SetNetworkActive(ctx, false))
		require.NoError(t, failover.Mine(ctx, miner, pool.Coins[0].Wallet.MaxLagBlocks+1))
		_, err = waitFor(ctx, step, obs, "the lagging wallet critical", func(s failover.Snapshot) bool {
			i, ok := s.Find(v.AllocID)
			return ok && i.Status == "critical"
		})
		require.NoError(t, err)
		require.NoError(t, lagging.SetNetworkActive(ctx, true))
		_, err = waitFor(ctx, step, obs, "the lagging wallet caught up", allPassing)
		require.NoError(t, err)
		after, err := failover.Restarts(ctx, nomad, v.AllocID, "daemon")
		require.NoError(t, err)
		assert.Equal(t, before, after, "a lagging wallet must not be restarted")
		otherStayedUp(t, other, t0)
	})

	t.Run("power cut: replaced on a surviving node", func(t *testing.T) {
		v, other := victim()
		node := nodeOf(t, nomad, v.AllocID)
		t0 := time.Now()
		require.NoError(t, c.PowerOff(ctx, node))
		// The dead node's registration lingers, critical, until the node
		// comes back; what counts is two passing wallets besides it.
		snap, err := waitFor(ctx, step, obs, "a replacement wallet passing", func(s failover.Snapshot) bool {
			passing := 0
			for _, i := range s.Instances {
				if i.Passing && i.AllocID != v.AllocID {
					passing++
				}
			}
			return passing == 2
		})
		require.NoError(t, err)
		for _, i := range snap.Instances {
			if i.Passing && i.AllocID != other.AllocID {
				assert.NotEqual(t, node, nodeOf(t, nomad, i.AllocID), "the replacement runs on a node with power")
			}
		}
		otherStayedUp(t, other, t0)
		require.NoError(t, c.PowerOn(ctx, node))
	})
}

func nodeOf(t *testing.T, nomad *nomadapi.Client, allocID string) string {
	t.Helper()
	node, err := failover.NodeOf(context.Background(), nomad, allocID)
	require.NoError(t, err)
	return node
}

func waitFor(ctx context.Context, step time.Duration, obs *failover.Observer, what string, cond func(failover.Snapshot) bool) (failover.Snapshot, error) {
	ctx, cancel := context.WithTimeout(ctx, step)
	defer cancel()
	return obs.WaitFor(ctx, what, cond)
}

// secretsStaySecret checks that the wallets' RPC password and its hash
// are nowhere but in the Nomad variable and the tasks' secrets files
// (0400, the task's user): not in the job Nomad stores, Consul's KV, any
// task's logs, pool.hcl, or what poolctl prints.
func secretsStaySecret(t *testing.T, c *cluster.Cluster, nomad *nomadapi.Client, consul *consulapi.Client, poolPath, deployOutput string, s failover.Snapshot) {
	v, _, err := nomad.Variables().Read(jobspec.WalletSecretsPath("ltc"), nil)
	require.NoError(t, err)
	password, rpcauth := v.Items["rpc_password"], v.Items["rpcauth"]
	require.NotEmpty(t, password)
	require.NotEmpty(t, rpcauth)
	hash := rpcauth[strings.LastIndex(rpcauth, "$")+1:]
	leaks := func(where, text string) {
		t.Helper()
		assert.NotContains(t, text, password, "the RPC password is in %s", where)
		assert.NotContains(t, text, hash, "the RPC password's hash is in %s", where)
	}

	leaks("poolctl deploy's output", deployOutput)
	status, err := exec.Command(testenv.Poolctl(t), "status", "--address", c.NomadAddr(), "--consul-address", c.ConsulAddr(), poolPath).CombinedOutput()
	require.NoError(t, err, "%s", status)
	leaks("poolctl status's output", string(status))
	definition, err := os.ReadFile(poolPath)
	require.NoError(t, err)
	leaks("pool.hcl", string(definition))

	job, _, err := nomad.Jobs().Info("ltc-wallet", nil)
	require.NoError(t, err)
	spec, err := json.Marshal(job)
	require.NoError(t, err)
	leaks("the job Nomad stores", string(spec))

	pairs, _, err := consul.KV().List("", nil)
	require.NoError(t, err)
	require.NotEmpty(t, pairs, "deploy writes the pool's configuration to Consul KV")
	for _, p := range pairs {
		leaks("Consul KV "+p.Key, string(p.Value))
	}

	for _, inst := range s.Instances {
		a, _, err := nomad.Allocations().Info(inst.AllocID, nil)
		require.NoError(t, err)
		for task := range a.TaskStates {
			for _, stream := range []string{"stdout", "stderr"} {
				r, err := nomad.AllocFS().Cat(a, fmt.Sprintf("alloc/logs/%s.%s.0", task, stream), nil)
				require.NoError(t, err)
				text, err := io.ReadAll(r)
				r.Close()
				require.NoError(t, err)
				leaks(fmt.Sprintf("the %s log of task %s", stream, task), string(text))
			}
		}
		files, err := filepath.Glob(filepath.Join(c.StateDir, "*", "nomad", "alloc", a.ID, "daemon", "secrets", "litecoin.conf"))
		require.NoError(t, err)
		require.Len(t, files, 1, "the daemon's rendered config of alloc %s", a.ID)
		info, err := os.Stat(files[0])
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o400), info.Mode().Perm(), "%s", files[0])
		assert.Equal(t, uint32(65534), info.Sys().(*syscall.Stat_t).Uid, "%s is the task user's (nobody)", files[0])
	}
}
