package cli_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	nomadapi "github.com/hashicorp/nomad/api"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/cli"
	"github.com/scryptpool/poolmicrocloud/tools/internal/cluster"
	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
	"github.com/scryptpool/poolmicrocloud/tools/internal/poolcheck"
	"github.com/scryptpool/poolmicrocloud/tools/internal/testenv"
)

// withCommand writes a copy of the dev example whose wallets run command.
func withCommand(t *testing.T, command string) string {
	t.Helper()
	src, err := os.ReadFile(dev)
	require.NoError(t, err)
	out := strings.Replace(string(src), "    dbcache_mb = 16\n", "    dbcache_mb = 16\n    command    = \""+command+"\"\n", 1)
	require.NotEqual(t, string(src), out)
	path := filepath.Join(t.TempDir(), "pool.hcl")
	require.NoError(t, os.WriteFile(path, []byte(out), 0o644))
	return path
}

func connArgs(c *cluster.Cluster) []string {
	return []string{"--address", c.NomadAddr(), "--consul-address", c.ConsulAddr()}
}

func jobVersion(t *testing.T, c *cluster.Cluster, id string) uint64 {
	t.Helper()
	nomad, err := c.NomadClient()
	require.NoError(t, err)
	job, _, err := nomad.Jobs().Info(id, nil)
	require.NoError(t, err)
	return *job.Version
}

// The dev example on a dev-shaped cluster of real agents: a first deploy
// whose wallets cannot start is stopped with the cause; a good deploy makes
// every deployable job healthy and says which are not deployable yet; a
// broken update is reverted by Nomad; a redeploy changes nothing; and an
// invalid definition sends nothing.
func TestDeployDevExample(t *testing.T) {
	pool, jobs := testenv.LoadPool(t, dev)
	c := testenv.DevCluster(t, pool, jobs)
	conn := connArgs(c)
	broken := withCommand(t, "/usr/lib/litecoin/no-such-litecoind")

	t.Run("rendered jobs pass nomad job validate and plan", func(t *testing.T) {
		dir := t.TempDir()
		code, _, stderr := run(t, "render", "-o", dir, dev)
		require.Equal(t, cli.ExitOK, code, stderr)
		testenv.NomadValidateAndPlan(t, c.NomadAddr(), dir)
	})

	t.Run("first version fails and is stopped", func(t *testing.T) {
		code, stdout, stderr := run(t, append([]string{"deploy"}, append(conn, broken)...)...)
		require.Equal(t, cli.ExitFailed, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
		assert.Contains(t, stdout, "devpool-database         healthy")
		assert.Regexp(t, `ltc-wallet\s+stopped`, stdout)
		assert.Contains(t, stderr, "no-such-litecoind", "the cause from the task events")
		nomad, err := c.NomadClient()
		require.NoError(t, err)
		job, _, err := nomad.Jobs().Info("ltc-wallet", nil)
		require.NoError(t, err)
		assert.True(t, *job.Stop, "a failed first version must not crash-loop unattended")
	})

	t.Run("deploy makes every deployable job healthy", func(t *testing.T) {
		code, stdout, stderr := run(t, append([]string{"deploy"}, append(conn, dev)...)...)
		require.Equal(t, cli.ExitOK, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
		for _, healthy := range []string{"devpool-database", "ltc-wallet", "ltc-stratum", "devpool-web", "devpool-health"} {
			assert.Regexp(t, healthy+`\s+healthy`, stdout)
		}
		for _, periodic := range []string{"ltc-payout", "ltc-blocks", "devpool-stats", "devpool-backup"} {
			assert.Regexp(t, periodic+`\s+registered\s+periodic job registered`, stdout)
		}
		assert.NotContains(t, stdout, "not yet deployable")
		assert.Contains(t, stderr, "ltc-wallet: deployment successful, wallet 2/2 healthy")

		consul, err := c.ConsulClient()
		require.NoError(t, err)
		check, err := poolcheck.Current(consul, "devpool")
		require.NoError(t, err)
		require.NotNil(t, check, "deploy registers the pool's check")
		assert.Equal(t, "passing", check.Status, check.Output)
		pair, _, err := consul.KV().Get(contract.ConfigKey("devpool"), nil)
		require.NoError(t, err)
		require.NotNil(t, pair, "deploy writes the pool's configuration to Consul KV")
		assert.Contains(t, string(pair.Value), `"name": "devpool"`)

		// The web servers answer MiningCore's API with the recorded pool,
		// reading the database under the read-only login.
		resp, err := http.Get("http://" + serviceAddr(t, c, contract.WebService("devpool")) + "/api/pools")
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
		assert.Contains(t, string(body), `"id": "ltc"`)
	})

	t.Run("status shows the pool on one screen", func(t *testing.T) {
		code, stdout, stderr := run(t, append([]string{"status"}, append(conn, dev)...)...)
		require.Equal(t, cli.ExitOK, code, stderr)
		assert.Contains(t, stdout, "Pool devpool: passing")
		assert.Regexp(t, `(?m)^  site: http://\S+:\d+/$`, stdout, "where the pool's pages answer")
		assert.Regexp(t, `node-01\s+\S+\s+ready\s+eligible`, stdout)
		assert.Regexp(t, `ltc-wallet\s+wallet\s+service\s+running`, stdout)
		assert.Regexp(t, `ltc-wallet\s+\S+\s+rpc answers\s+passing`, stdout)
		assert.Regexp(t, `devpool-web\s+web\s+service\s+running`, stdout)
		assert.Regexp(t, `devpool-web\s+\S+\s+api answers\s+passing`, stdout)
		assert.Regexp(t, `devpool-database\s+\S+\s+postgres running\s+passing`, stdout)
		assert.Regexp(t, `node-01\s+\S+\s+primary\s+running`, stdout, "the database's one member is the primary")
		assert.Contains(t, stdout, "one instance, no replica (instances = 1)")
	})

	t.Run("each job's wallet login may call only what the job calls", func(t *testing.T) {
		checkWalletLogins(t, c)
	})

	t.Run("a flood of hostile input leaves the stratum server serving", func(t *testing.T) {
		floodTheDevPool(t, c)
	})

	t.Run("a miner mines through the pool while its wallet is frozen and killed", func(t *testing.T) {
		mineThroughWalletFailures(t, c)
	})

	t.Run("a forced payout pays the miner its PPLNS share, once", func(t *testing.T) {
		payOutOnDevCluster(t, c)
		code, stdout, stderr := run(t, append([]string{"status"}, append(conn, dev)...)...)
		require.Equal(t, cli.ExitOK, code, stderr)
		assert.Regexp(t, `ltc-payout\s+\S+ \S+ \S+\s+(ok|skipped)`, stdout, "status shows the payout's last run")
		assert.Contains(t, stdout, "Periodic runs")
	})

	t.Run("the site shows what the database and the wallets hold", func(t *testing.T) {
		siteShowsTheLedger(t, c)
	})

	t.Run("stats and backups run as periodic jobs", func(t *testing.T) {
		housekeepOnDevCluster(t, c)
		code, stdout, stderr := run(t, append([]string{"status"}, append(conn, dev)...)...)
		require.Equal(t, cli.ExitOK, code, stderr)
		assert.Regexp(t, `devpool-stats\s+\S+ \S+ \S+\s+ok`, stdout)
		assert.Regexp(t, `devpool-backup\s+\S+ \S+ \S+\s+ok`, stdout)
		assert.Contains(t, stdout, "devpool-backup: database: /backup/database/pool-")
	})

	t.Run("the health watcher follows a lost wallet", func(t *testing.T) {
		nomad, err := c.NomadClient()
		require.NoError(t, err)
		allocs, _, err := nomad.Jobs().Allocations("ltc-wallet", false, nil)
		require.NoError(t, err)
		var victim string
		for _, a := range allocs {
			if a.ClientStatus == "running" {
				victim = a.ID
				break
			}
		}
		require.NotEmpty(t, victim)
		_, err = nomad.Allocations().Stop(&nomadapi.Allocation{ID: victim}, nil)
		require.NoError(t, err)
		// The watcher, not deploy, must publish both changes.
		waitPoolCheck(t, c, "warning")
		waitPoolCheck(t, c, "passing")
	})

	t.Run("redeploy and plan change nothing", func(t *testing.T) {
		before := jobVersion(t, c, "ltc-wallet")
		code, stdout, stderr := run(t, append([]string{"plan"}, append(conn, dev)...)...)
		require.Equal(t, cli.ExitOK, code, stderr)
		assert.Contains(t, stdout, `Job: "ltc-wallet" (no changes)`)
		code, _, stderr = run(t, append([]string{"deploy"}, append(conn, dev)...)...)
		require.Equal(t, cli.ExitOK, code, stderr)
		assert.Equal(t, before, jobVersion(t, c, "ltc-wallet"))
	})

	t.Run("a broken update is reverted", func(t *testing.T) {
		stable := jobVersion(t, c, "ltc-wallet")
		code, stdout, stderr := run(t, append([]string{"deploy"}, append(conn, broken)...)...)
		require.Equal(t, cli.ExitFailed, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
		assert.Regexp(t, `ltc-wallet\s+reverted`, stdout)
		assert.Contains(t, stderr, "no-such-litecoind")
		nomad, err := c.NomadClient()
		require.NoError(t, err)
		job, _, err := nomad.Jobs().Info("ltc-wallet", nil)
		require.NoError(t, err)
		// poolctl wallet daemon runs the daemon named after its "--".
		assert.Contains(t, job.TaskGroups[0].Tasks[1].Config["args"], "/usr/lib/litecoin/litecoind", "Nomad reverted to version %d", stable)
	})

	t.Run("an unreachable Consul is one line", func(t *testing.T) {
		code, _, stderr := run(t, "deploy", "--address", c.NomadAddr(), "--consul-address", "127.0.0.1:1", dev)
		assert.Equal(t, cli.ExitRuntime, code)
		last := strings.TrimSpace(stderr)
		last = last[strings.LastIndex(last, "\n")+1:]
		assert.Contains(t, last, "consul at http://127.0.0.1:1: ask for its leader: unreachable")
	})

	t.Run("an invalid definition sends nothing", func(t *testing.T) {
		nomad, err := c.NomadClient()
		require.NoError(t, err)
		before, _, err := nomad.Jobs().List(nil)
		require.NoError(t, err)
		code, _, stderr := run(t, append([]string{"deploy"}, append(conn, "../validate/testdata/invalid/duplicate-names.hcl")...)...)
		assert.Equal(t, cli.ExitInvalid, code)
		assert.Contains(t, stderr, "Duplicate coin")
		after, _, err := nomad.Jobs().List(nil)
		require.NoError(t, err)
		assert.Equal(t, modifyIndexes(before), modifyIndexes(after))
	})
}

func modifyIndexes(jobs []*nomadapi.JobListStub) map[string]uint64 {
	out := map[string]uint64{}
	for _, j := range jobs {
		out[j.ID] = j.JobModifyIndex
	}
	return out
}

// A Nomad that refuses the request (ACLs on, no token) is one line that
// says so and names the variable to set, and exit 1.
func TestRefusingNomad(t *testing.T) {
	pool, jobs := testenv.LoadPool(t, dev)
	clients := cluster.ModelClients(pool, jobs)
	c := testenv.StartCluster(t, pool, testenv.ClusterOptions{Clients: clients, ACL: true})
	t.Setenv("NOMAD_TOKEN", "")
	code, _, stderr := run(t, append([]string{"plan"}, append(connArgs(c), dev)...)...)
	assert.Equal(t, cli.ExitRuntime, code)
	last := strings.TrimSpace(stderr)
	last = last[strings.LastIndex(last, "\n")+1:]
	assert.Contains(t, last, "nomad at "+c.NomadAddr())
	assert.Contains(t, last, "permission denied; set NOMAD_TOKEN")
}

// waitPoolCheck follows the pool's check with blocking queries until it
// has the given status.
func waitPoolCheck(t *testing.T, c *cluster.Cluster, status string) {
	t.Helper()
	consul, err := c.ConsulClient()
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var index uint64
	for {
		checks, meta, err := consul.Health().Node("devpool-pool", (&consulapi.QueryOptions{WaitIndex: index}).WithContext(ctx))
		require.NoError(t, err, "the pool's check did not become %s", status)
		for _, chk := range checks {
			if chk.Name == contract.PoolCheckName && chk.Status == status {
				t.Logf("pool check %s:\n%s", status, chk.Output)
				return
			}
		}
		index = meta.LastIndex
	}
}
