package failover_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
	"github.com/scryptpool/poolmicrocloud/tools/internal/failover"
	"github.com/scryptpool/poolmicrocloud/tools/internal/jobspec"
	"github.com/scryptpool/poolmicrocloud/tools/internal/ledger"
	"github.com/scryptpool/poolmicrocloud/tools/internal/miner"
	"github.com/scryptpool/poolmicrocloud/tools/internal/testenv"
)

// The stratum server's node loses power while the database is away and
// shares are accepted into the share journal only: after power comes
// back (and the database), every share the miner was told was accepted
// is in the database, once, with nobody touching the pool.
func TestStratumPowerCutKeepsAcceptedShares(t *testing.T) {
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
	waitDBState(ctx, t, consul, pool.Name, "a primary and a synchronous standby", 3*time.Minute, healthy)

	stratum, _, err := consul.Health().Service(contract.StratumService("ltc"), "", true, nil)
	require.NoError(t, err)
	require.Len(t, stratum, 1)
	stratumAddr := fmt.Sprintf("%s:%d", stratum[0].Service.Address, stratum[0].Service.Port)
	stratumNode := nodeNameOf(t, c, stratum[0].Node.Node, stratum[0].Service.Address)

	db, err := ledger.Open(poolDSN(t, c), consul, contract.DatabaseService(pool.Name), 2)
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
		Addr: stratumAddr, User: address + ".cut", Password: "x", Threads: 1,
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

	countShares := func() (int64, error) {
		qctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		var n int64
		err := db.QueryRow(qctx, "SELECT count(*) FROM shares WHERE address = $1", address).Scan(&n)
		return n, err
	}
	waitShares := func(what string, limit time.Duration, want func(int64) bool) {
		t.Helper()
		deadline := time.Now().Add(limit)
		for time.Now().Before(deadline) {
			if n, err := countShares(); err == nil && want(n) {
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
		require.FailNow(t, fmt.Sprintf("waited %v for %s", limit, what))
	}
	waitShares("the miner's first shares in the database", 3*time.Minute, func(n int64) bool { return n >= 5 })

	// The database goes away (its job stopped; its data stays on its
	// volumes): from now on, accepted shares are in the journal only.
	dbJob := contract.JobID(pool.Name, "", contract.KindDatabase)
	_, _, err = nomad.Jobs().Deregister(dbJob, false, nil)
	require.NoError(t, err)
	waitDBState(ctx, t, consul, pool.Name, "no database member", 2*time.Minute, func(s dbState) bool { return len(s.Members) == 0 })
	before := accepted.Load()
	deadline := time.Now().Add(3 * time.Minute)
	for accepted.Load() < before+10 {
		require.True(t, time.Now().Before(deadline), "waited 3m for shares accepted while the database is away")
		time.Sleep(200 * time.Millisecond)
	}

	require.NoError(t, c.PowerOff(ctx, stratumNode))
	stopMiner()
	<-mined
	acked := accepted.Load()
	t.Logf("power cut on %s, the stratum server's node: %d shares acknowledged, %d of them while the database was away", stratumNode, acked, acked-before)
	require.NoError(t, c.PowerOn(ctx, stratumNode))
	back := time.Now()
	testenv.Deploy(t, c, poolPath) // the database's job again; nothing else changes

	var inDB int64
	waitShares("every acknowledged share in the database", 5*time.Minute, func(n int64) bool { inDB = n; return n >= acked })
	t.Logf("%d shares in the database %.1f s after power came back (%d acknowledged)", inDB, time.Since(back).Seconds(), acked)
}
