package failover_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/cluster"
	"github.com/scryptpool/poolmicrocloud/tools/internal/config"
	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
	"github.com/scryptpool/poolmicrocloud/tools/internal/dbarchive"
	"github.com/scryptpool/poolmicrocloud/tools/internal/failover"
	"github.com/scryptpool/poolmicrocloud/tools/internal/jobspec"
	"github.com/scryptpool/poolmicrocloud/tools/internal/ledger"
	"github.com/scryptpool/poolmicrocloud/tools/internal/miner"
	"github.com/scryptpool/poolmicrocloud/tools/internal/powercut"
	"github.com/scryptpool/poolmicrocloud/tools/internal/secrets"
	"github.com/scryptpool/poolmicrocloud/tools/internal/testenv"
)

// replicatedDevPool is the dev example with its database on two members,
// on a cluster of three nodes of which dataNodes hold the database's
// volume.
func replicatedDevPool(t *testing.T, dataNodes int) string {
	return devVariant(t, 3, 1, dataNodes)
}

// devVariant is the dev example rewritten by powercut.Variant, in a file.
func devVariant(t *testing.T, nodes, servers, dataNodes int) string {
	path, err := powercut.WriteVariant(testenv.Example(t, "dev"), t.TempDir(), nodes, servers, 2, dataNodes)
	require.NoError(t, err)
	return path
}

// threeNodes are three clients shaped as the pool's model says (see
// powercut.Clients), the first dataNodes with the database's volume.
func threeNodes(pool *config.Pool, jobs []*jobspec.Job, dataNodes int) []cluster.Client {
	return powercut.Clients(pool, jobs, 3, dataNodes)
}

// dbState and dbMember are the database's keys in Consul, as Patroni
// keeps them (powercut reads them for the power-cut scenarios too).
type (
	dbState  = powercut.Database
	dbMember = powercut.Member
)

var readDBState = powercut.ReadDatabase

// waitDBState reads the database's keys until cond holds, and fails the
// test when limit passes first.
func waitDBState(ctx context.Context, t *testing.T, consul *consulapi.Client, pool, what string, limit time.Duration, cond func(dbState) bool) dbState {
	t.Helper()
	s, err := powercut.WaitDatabase(ctx, consul, pool, what, limit, cond)
	require.NoError(t, err)
	return s
}

// healthy says two members run: a primary and its synchronous standby.
func healthy(s dbState) bool { return s.Healthy(2) }

// The database's primary node loses power while a miner's shares flow:
// the synchronous replica takes over, every share the stratum server
// acknowledged is in the new primary, and the old node, powered on, comes
// back as a replica with nobody touching it.
func TestDatabaseFailsOver(t *testing.T) {
	poolPath := replicatedDevPool(t, 2)
	pool, jobs := testenv.LoadPool(t, poolPath)
	c := testenv.StartCluster(t, pool, testenv.ClusterOptions{Clients: threeNodes(pool, jobs, 2), Servers: 1})
	testenv.Deploy(t, c, poolPath)

	nomad, err := c.NomadClient()
	require.NoError(t, err)
	consul, err := c.ConsulClient()
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	waitDB := func(what string, limit time.Duration, cond func(dbState) bool) dbState {
		t.Helper()
		return waitDBState(ctx, t, consul, pool.Name, what, limit, cond)
	}
	start := waitDB("a primary and a synchronous standby", 3*time.Minute, healthy)
	t.Logf("primary %s, synchronous standby %s", start.Leader, start.SyncStandby)

	// The primary must not share its node with the stratum server: the
	// stratum server's memory buffer dying with the node is another
	// issue's (durable shares); this test is about the database.
	stratum, _, err := consul.Health().Service(contract.StratumService("ltc"), "", true, nil)
	require.NoError(t, err)
	require.Len(t, stratum, 1)
	stratumAddr := fmt.Sprintf("%s:%d", stratum[0].Service.Address, stratum[0].Service.Port)
	stratumNode := nodeNameOf(t, c, stratum[0].Node.Node, stratum[0].Service.Address)
	if stratumNode == start.Leader {
		switchover(t, start.Members[start.Leader].APIURL, start.Leader, start.SyncStandby)
		start = waitDB("the switchover away from the stratum server's node", 2*time.Minute, func(s dbState) bool {
			return healthy(s) && s.Leader != stratumNode
		})
		t.Logf("switched over: primary %s, synchronous standby %s", start.Leader, start.SyncStandby)
	}

	dsn := poolDSN(t, c)
	db, err := ledger.Open(dsn, consul, contract.DatabaseService(pool.Name), 2)
	require.NoError(t, err)
	defer db.Close()

	wallets, _, err := consul.Health().Service(contract.WalletService("ltc"), "", true, nil)
	require.NoError(t, err)
	require.NotEmpty(t, wallets)
	wallet, err := failover.WalletClient(ctx, nomad, jobspec.WalletSecretsPath("ltc"), fmt.Sprintf("%s:%d", wallets[0].Service.Address, wallets[0].Service.Port))
	require.NoError(t, err)
	var address string
	require.NoError(t, wallet.Call(ctx, "getnewaddress", nil, &address))

	var accepted atomic.Int64
	m := miner.New(miner.Options{
		Addr: stratumAddr, User: address + ".fo", Password: "x", Threads: 1,
		Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
		OnEvent: func(e miner.Event) {
			if e.Kind == "accepted" {
				accepted.Add(1)
			}
		},
	})
	mineCtx, stopMiner := context.WithCancel(ctx)
	mined := make(chan struct{})
	go func() { defer close(mined); _ = m.Run(mineCtx) }()
	defer func() { stopMiner(); <-mined }()

	countShares := func(after time.Time) (int64, error) {
		qctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		var n int64
		err := db.QueryRow(qctx, "SELECT count(*) FROM shares WHERE address = $1 AND submitted_at > $2", address, after).Scan(&n)
		return n, err
	}
	epoch := time.Unix(0, 0)
	waitShares := func(what string, after time.Time, want func(int64) bool) time.Time {
		t.Helper()
		deadline := time.Now().Add(3 * time.Minute)
		for time.Now().Before(deadline) {
			if n, err := countShares(after); err == nil && want(n) {
				return time.Now()
			}
			time.Sleep(200 * time.Millisecond)
		}
		require.FailNow(t, "waited 3m for "+what)
		return time.Time{}
	}
	waitShares("the miner's first shares in the database", epoch, func(n int64) bool { return n >= 5 })

	victim, survivor := start.Leader, start.SyncStandby
	cut := time.Now()
	require.NoError(t, c.PowerOff(ctx, victim))
	t.Logf("power cut on %s, the primary, with %d shares accepted", victim, accepted.Load())

	promoted := waitDB("the synchronous standby promoted", 2*time.Minute, func(s dbState) bool {
		p, ok := s.Members[s.Leader]
		return s.Leader == survivor && ok && p.State == "running" && p.Role != "replica"
	})
	promotedAt := time.Now()
	firstShare := waitShares("a share submitted after the cut, written on the new primary", cut, func(n int64) bool { return n >= 1 })
	t.Logf("failover: %s primary %.1f s after the cut; first share written there %.1f s after the cut",
		promoted.Leader, promotedAt.Sub(cut).Seconds(), firstShare.Sub(cut).Seconds())
	assert.Less(t, firstShare.Sub(cut), 60*time.Second, "the pool writes shares again within a minute")

	// Every share the stratum server acknowledged is in the new primary,
	// once: the ones committed before the cut were on the synchronous
	// standby, and the ones acknowledged since were buffered and written.
	waitShares("some more shares", cut, func(n int64) bool { return n >= 5 })
	stopMiner()
	<-mined
	acked := accepted.Load()
	var inDB int64
	waitShares("every accepted share in the database", epoch, func(n int64) bool { inDB = n; return n >= acked })
	assert.Equal(t, acked, inDB, "accepted shares and shares in the new primary")
	t.Logf("shares: %d acknowledged, %d in the new primary, %d missing", acked, inDB, acked-inDB)
	assert.Equal(t, int64(1), m.Stats().Connects, "the miner never lost its connection")

	// The old primary's node comes back: its member rewinds and follows
	// the new primary, with nobody touching it.
	require.NoError(t, c.PowerOn(ctx, victim))
	back := time.Now()
	waitDB("the old primary back as a replica", 5*time.Minute, func(s dbState) bool {
		o, ok := s.Members[victim]
		return s.Leader == survivor && ok && o.State == "running" && o.Role == "replica" && s.SyncStandby == victim
	})
	t.Logf("the old primary %s follows %s as its synchronous standby %.1f s after power came back", victim, survivor, time.Since(back).Seconds())

	// The archive follows the new primary: what it publishes holds a base
	// backup and WAL of the new primary's timeline.
	timeline := start.Members[start.Leader].Timeline
	var info dbarchive.Info
	deadline := time.Now().Add(4 * time.Minute)
	for {
		pair, _, err := consul.KV().Get(contract.ArchiveInfoKey(pool.Name), nil)
		require.NoError(t, err)
		if pair != nil {
			require.NoError(t, json.Unmarshal(pair.Value, &info))
			if info.LastBackup != nil && int(info.Timeline) > timeline && info.Gap == "" {
				break
			}
		}
		require.True(t, time.Now().Before(deadline), "waited 4m for the archive to follow the new primary: %+v", info)
		time.Sleep(time.Second)
	}
	t.Logf("the archive holds WAL of timeline %d (the primary's was %d before the cut), newest segment %s, a base backup from %s",
		info.Timeline, timeline, info.NewestWAL, info.LastBackup.Finished.Format(time.RFC3339))
}

// nodeNameOf is the cluster node whose Consul node name or address this is.
func nodeNameOf(t *testing.T, c *cluster.Cluster, consulNode, addr string) string {
	for _, n := range c.Nodes {
		if n.Name == consulNode || n.IP == addr {
			return n.Name
		}
	}
	require.FailNow(t, "no node "+consulNode+" ("+addr+") in the cluster")
	return ""
}

// switchover asks Patroni to hand the primary's role to candidate.
func switchover(t *testing.T, apiURL, leader, candidate string) {
	base := strings.TrimSuffix(apiURL, "/patroni")
	body, _ := json.Marshal(map[string]string{"leader": leader, "candidate": candidate})
	resp, err := http.Post(base+"/switchover", "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusOK, resp.StatusCode, "switchover: %s", msg)
}

// poolDSN is the pool login's URL without a host: ledger.Open finds the
// primary in Consul.
func poolDSN(t *testing.T, c *cluster.Cluster) string {
	nomad, err := c.NomadClient()
	require.NoError(t, err)
	v, _, err := nomad.Variables().Read(contract.VariablePath(contract.JobID("devpool", "", contract.KindDatabase)), nil)
	require.NoError(t, err)
	return fmt.Sprintf("postgres://%s:%s@placeholder/pool?sslmode=disable&connect_timeout=3",
		v.Items[secrets.ItemDatabaseUser], v.Items[secrets.ItemDatabasePassword])
}
