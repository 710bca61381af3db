package dbrestore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/cluster"
	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
	"github.com/scryptpool/poolmicrocloud/tools/internal/dbarchive"
	"github.com/scryptpool/poolmicrocloud/tools/internal/dbcluster"
	"github.com/scryptpool/poolmicrocloud/tools/internal/dbmember"
	"github.com/scryptpool/poolmicrocloud/tools/internal/jobspec"
	"github.com/scryptpool/poolmicrocloud/tools/internal/ledger"
	"github.com/scryptpool/poolmicrocloud/tools/internal/secrets"
	"github.com/scryptpool/poolmicrocloud/tools/internal/testenv"
)

// restorePool is the dev example with its database on two members on
// node-01 and node-02 and the archive on node-03's backup volume: the
// member that restores fetches the archive from another node.
func restorePool(t *testing.T) string {
	src, err := os.ReadFile(testenv.Example(t, "dev"))
	require.NoError(t, err)
	s := string(src)
	for old, repl := range map[string]string{
		"nodes          = 1":                         "nodes          = 3",
		"host_volume \"pool-data\" {\n    nodes = 1": "host_volume \"pool-backup\" {\n    nodes = 1\n  }\n  host_volume \"pool-data\" {\n    nodes = 2",
		"database {\n":                               "database {\n  instances = 2\n",
		"housekeeping {\n":                           "housekeeping {\n  backup_volume = \"pool-backup\"\n",
	} {
		require.Contains(t, s, old, "the dev example changed; update this test's variant")
		s = strings.Replace(s, old, repl, 1)
	}
	path := filepath.Join(t.TempDir(), "pool.hcl")
	require.NoError(t, os.WriteFile(path, []byte(s), 0o644))
	return path
}

// The README's restore, on a cluster: rows are committed one a time on a
// two-member database whose archive is on a third node; the operator
// runs `poolctl database restore --to T --yes`; the pool comes back with
// a new database holding exactly the rows committed up to T, on both
// members (primary and synchronous standby), each member's old copy
// kept aside, and the archive carrying on from the restored database.
func TestRestoreOnTheCluster(t *testing.T) {
	poolPath := restorePool(t)
	pool, jobs := testenv.LoadPool(t, poolPath)
	owners := jobspec.VolumeOwners(jobs)
	clients := make([]cluster.Client, 3)
	for i := range clients {
		clients[i] = cluster.Client{Name: fmt.Sprintf("node-%02d", i+1), CPUMHz: 4800, MemoryMB: 1024}
		clients[i].Volumes = append(clients[i].Volumes, cluster.Volume{Name: "ltc-chain", Owner: owners["ltc-chain"]})
		if i < 2 {
			clients[i].Volumes = append(clients[i].Volumes, cluster.Volume{Name: "pool-data", Owner: owners["pool-data"]})
		} else {
			clients[i].Volumes = append(clients[i].Volumes, cluster.Volume{Name: "pool-backup", Owner: owners["pool-backup"]})
		}
	}
	c := testenv.StartCluster(t, pool, testenv.ClusterOptions{Clients: clients, Servers: 1})
	testenv.Deploy(t, c, poolPath)
	consul, err := c.ConsulClient()
	require.NoError(t, err)
	nomad, err := c.NomadClient()
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()

	healthy := func(v *dbcluster.View) bool { return v.Judge().Health == dbcluster.Healthy }
	waitCtx, stop := context.WithTimeout(ctx, 5*time.Minute)
	before, err := dbcluster.Wait(waitCtx, consul.KV(), pool.Name, 2, healthy)
	stop()
	require.NoError(t, err, "a primary and a synchronous standby")
	t.Logf("primary %s, synchronous standby %v, timeline %d", before.Leader, before.SyncStandbys, before.Member(before.Leader).Timeline)

	// The archive's base backup first: a restore reaches back to its end.
	info := waitArchive(t, ctx, consul, pool.Name, "a restorable base backup", func(i dbarchive.Info) bool { return i.OldestRestorable != nil })
	t.Logf("the archive restores from %s", info.OldestRestorable.Format(time.RFC3339Nano))

	v, _, err := nomad.Variables().Read(contract.VariablePath(contract.JobID(pool.Name, "", contract.KindDatabase)), nil)
	require.NoError(t, err)
	dsn := fmt.Sprintf("postgres://%s:%s@placeholder/pool?sslmode=disable&connect_timeout=3",
		v.Items[secrets.ItemDatabaseUser], v.Items[secrets.ItemDatabasePassword])
	db, err := ledger.Open(dsn, consul, contract.DatabaseService(pool.Name), 2)
	require.NoError(t, err)
	_, err = db.Exec(ctx, "CREATE TABLE restore_probe (n int PRIMARY KEY)")
	require.NoError(t, err)
	// Rows 1-20 are committed before the target, 21-40 after it; each
	// commit is acknowledged (synchronously on both members) before the
	// next starts, and the target lies between two acknowledgements.
	insert := func(from, to int) {
		for n := from; n <= to; n++ {
			_, err := db.Exec(ctx, "INSERT INTO restore_probe VALUES ($1)", n)
			require.NoError(t, err)
		}
	}
	insert(1, 20)
	time.Sleep(50 * time.Millisecond) // the target must fall between two commits of the same clock
	target := time.Now()
	time.Sleep(50 * time.Millisecond)
	insert(21, 40)
	last := time.Now()
	db.Close()
	info = waitArchive(t, ctx, consul, pool.Name, "the last rows' commits", func(i dbarchive.Info) bool {
		return i.LastCommit != nil && !i.LastCommit.Before(target)
	})
	t.Logf("the archive's last commit %s (rows written until %s)", info.LastCommit.Format(time.RFC3339Nano), last.Format(time.RFC3339Nano))

	// Without --yes nothing is stopped.
	code, out := poolctl(t, c, "database", "restore", "--to", target.UTC().Format(time.RFC3339Nano), poolPath)
	require.Equal(t, 2, code, out)
	assert.Contains(t, out, "run again with --yes")
	// A target before the archive reaches is refused before anything stops.
	code, out = poolctl(t, c, "database", "restore", "--to", info.OldestRestorable.Add(-time.Hour).UTC().Format(time.RFC3339), "--yes", poolPath)
	require.Equal(t, 2, code, out)
	assert.Contains(t, out, "before the archive's oldest restorable point")
	still, err := dbcluster.Read(ctx, consul.KV(), pool.Name, 2)
	require.NoError(t, err)
	require.Equal(t, before.Leader, still.Leader, "a refused restore stopped nothing")

	start := time.Now()
	code, out = poolctl(t, c, "database", "restore", "--to", target.UTC().Format(time.RFC3339Nano), "--yes", poolPath)
	require.Equal(t, 0, code, out)
	t.Logf("poolctl database restore took %.1f s:\n%s", time.Since(start).Seconds(), out)

	after, err := dbcluster.Read(ctx, consul.KV(), pool.Name, 2)
	require.NoError(t, err)
	require.True(t, healthy(after), "after the restore: %s", after.Judge().Line)
	assert.Greater(t, after.Member(after.Leader).Timeline, before.Member(before.Leader).Timeline, "the restored cluster runs on a new timeline")

	// Exactly the rows committed up to the target, on the primary and
	// on the synchronous standby.
	db, err = ledger.Open(dsn, consul, contract.DatabaseService(pool.Name), 2)
	require.NoError(t, err)
	defer db.Close()
	assert.Equal(t, seq(1, 20), rows(t, ctx, db), "rows on the restored primary")
	_, err = db.Exec(ctx, "INSERT INTO restore_probe VALUES (1000)")
	require.NoError(t, err, "the restored primary takes writes")

	// Each member's old copy is kept aside, named by the request.
	pair, _, err := consul.KV().Get(contract.DatabaseRestoreKey(pool.Name), nil)
	require.NoError(t, err)
	require.NotNil(t, pair)
	req, err := dbmember.ParseRestoreRequest(pair.Value)
	require.NoError(t, err)
	for _, n := range c.Nodes {
		vol, ok := n.Volumes["pool-data"]
		if !ok {
			continue
		}
		dir := filepath.Join(vol, "postgresql")
		assert.DirExists(t, dbmember.BeforeRestoreDir(dir, req.ID), "%s keeps the copy from before the restore", n.Name)
		marker, err := os.ReadFile(dbmember.RestoreMarker(dir))
		require.NoError(t, err)
		assert.Equal(t, req.ID, strings.TrimSpace(string(marker)))
	}

	// The archive carries on from the restored database: a base backup
	// of it, WAL of its timeline, no gap.
	info = waitArchive(t, ctx, consul, pool.Name, "a base backup of the restored database", func(i dbarchive.Info) bool {
		return i.LastBackup != nil && i.LastBackup.Finished.After(start) && int64(i.Timeline) >= after.Member(after.Leader).Timeline && i.Gap == ""
	})
	t.Logf("the archive: base backup %s, timeline %d, newest WAL %s", info.LastBackup.ID, info.Timeline, info.NewestWAL)
}

func waitArchive(t *testing.T, ctx context.Context, consul *consulapi.Client, pool, what string, done func(dbarchive.Info) bool) dbarchive.Info {
	t.Helper()
	var info dbarchive.Info
	var index uint64
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		pair, meta, err := consul.KV().Get(contract.ArchiveInfoKey(pool), (&consulapi.QueryOptions{WaitIndex: index, WaitTime: time.Minute}).WithContext(ctx))
		require.NoError(t, err)
		index = meta.LastIndex
		if pair != nil {
			info = dbarchive.Info{}
			require.NoError(t, json.Unmarshal(pair.Value, &info))
			if done(info) {
				return info
			}
		}
	}
	require.FailNow(t, "waited 5m for the archive to hold "+what, "%+v", info)
	return info
}

func poolctl(t *testing.T, c *cluster.Cluster, args ...string) (int, string) {
	t.Helper()
	args = append([]string{args[0], args[1], "--address", c.NomadAddr(), "--consul-address", c.ConsulAddr()}, args[2:]...)
	cmd := exec.Command(testenv.Poolctl(t), args...)
	cmd.Env = append(os.Environ(), "NOMAD_TOKEN=", "CONSUL_HTTP_TOKEN=")
	out, err := cmd.CombinedOutput()
	if exit, ok := err.(*exec.ExitError); ok {
		return exit.ExitCode(), string(out)
	}
	require.NoError(t, err)
	return 0, string(out)
}

func rows(t *testing.T, ctx context.Context, db *pgxpool.Pool) []int {
	t.Helper()
	r, err := db.Query(ctx, "SELECT n FROM restore_probe ORDER BY n")
	require.NoError(t, err)
	defer r.Close()
	var out []int
	for r.Next() {
		var n int
		require.NoError(t, r.Scan(&n))
		out = append(out, n)
	}
	require.NoError(t, r.Err())
	return out
}

func seq(from, to int) []int {
	var out []int
	for n := from; n <= to; n++ {
		out = append(out, n)
	}
	return out
}
