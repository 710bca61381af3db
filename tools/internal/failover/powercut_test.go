package failover_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	nomadapi "github.com/hashicorp/nomad/api"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
	"github.com/scryptpool/poolmicrocloud/tools/internal/failover"
	"github.com/scryptpool/poolmicrocloud/tools/internal/jobspec"
	"github.com/scryptpool/poolmicrocloud/tools/internal/ledger"
	"github.com/scryptpool/poolmicrocloud/tools/internal/miner"
	"github.com/scryptpool/poolmicrocloud/tools/internal/testenv"
)

// productionPool is the dev example on four nodes shaped as the Pis are:
// three of them servers, the database's volume on three, two members.
func productionPool(t *testing.T) string {
	path := replicatedDevPool(t, 3)
	src, err := os.ReadFile(path)
	require.NoError(t, err)
	s := string(src)
	for old, repl := range map[string]string{
		"servers        = 1": "servers        = 3",
		"nodes          = 3": "nodes          = 4",
	} {
		require.Contains(t, s, old, "the dev example changed; update this test's variant")
		s = strings.Replace(s, old, repl, 1)
	}
	require.NoError(t, os.WriteFile(path, []byte(s), 0o644))
	return path
}

// The whole cluster loses power while a miner mines: every agent and
// task of every node is killed at once, and the nodes come back in a
// random order, seconds apart. With nobody typing anything, Nomad and
// Consul elect leaders with all three servers voting, the database comes
// back with a primary and a synchronous standby, the wallets and the
// stratum server run again, the miner's shares are accepted again, and
// every share acknowledged before the cut is in the database.
func TestWholeClusterPowerCut(t *testing.T) {
	poolPath := productionPool(t)
	pool, jobs := testenv.LoadPool(t, poolPath)
	c := testenv.StartCluster(t, pool, testenv.ClusterOptions{Clients: modelNodes(pool, jobs, 4, 3), Servers: 3, Production: true})
	testenv.Deploy(t, c, poolPath)

	nomad, err := c.NomadClient()
	require.NoError(t, err)
	consul, err := c.ConsulClient()
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	waitDBState(ctx, t, consul, pool.Name, "a primary and a synchronous standby", 3*time.Minute, healthy)
	waitServices(ctx, t, consul, 3*time.Minute, pool.Name)

	stratum, _, err := consul.Health().Service(contract.StratumService("ltc"), "", true, nil)
	require.NoError(t, err)
	require.Len(t, stratum, 1)
	stratumAddr := fmt.Sprintf("%s:%d", stratum[0].Service.Address, stratum[0].Service.Port)
	wallets, _, err := consul.Health().Service(contract.WalletService("ltc"), "", true, nil)
	require.NoError(t, err)
	require.NotEmpty(t, wallets)
	wallet, err := failover.WalletClient(ctx, nomad, jobspec.WalletSecretsPath("ltc"), fmt.Sprintf("%s:%d", wallets[0].Service.Address, wallets[0].Service.Port))
	require.NoError(t, err)
	var address string
	require.NoError(t, wallet.Call(ctx, "getnewaddress", nil, &address))

	// mine runs a miner as worker until ctx ends, counting its accepted
	// shares; first is closed at the first one.
	mine := func(ctx context.Context, worker string, accepted *atomic.Int64, first chan struct{}) <-chan struct{} {
		done := make(chan struct{})
		go func() {
			defer close(done)
			for ctx.Err() == nil {
				m := miner.New(miner.Options{
					Addr: stratumAddr, User: address + "." + worker, Password: "x", Threads: 1,
					Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
					OnEvent: func(e miner.Event) {
						if e.Kind == "accepted" && accepted.Add(1) == 1 && first != nil {
							close(first)
						}
					},
				})
				_ = m.Run(ctx)
				select { // a miner whose pool is away tries again
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
		}()
		return done
	}
	sharesOf := func(worker string) int64 {
		db, err := ledger.Open(poolDSN(t, c), consul, contract.DatabaseService(pool.Name), 2)
		if err != nil {
			return -1
		}
		defer db.Close()
		qctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		var n int64
		if err := db.QueryRow(qctx, "SELECT count(*) FROM shares WHERE address = $1 AND worker = $2", address, worker).Scan(&n); err != nil {
			return -1
		}
		return n
	}
	var before atomic.Int64
	beforeCtx, stopBefore := context.WithCancel(ctx)
	minedBefore := mine(beforeCtx, "before", &before, nil)
	waitUntil(ctx, t, "ten shares in the database", 3*time.Minute, func() bool { return sharesOf("before") >= 10 })

	var names []string
	for _, n := range c.Nodes {
		names = append(names, n.Name)
	}
	cut := time.Now()
	require.NoError(t, c.PowerCut(ctx, names...))
	stopBefore()
	<-minedBefore
	acked := before.Load()

	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	var booted []string
	for _, i := range rng.Perm(len(names)) {
		delay := time.Duration(rng.IntN(5000)) * time.Millisecond
		time.Sleep(delay) // the power comes back to the Pis one after another
		require.NoError(t, c.Boot(names[i]))
		booted = append(booted, fmt.Sprintf("%s after %s", names[i], delay))
	}
	back := time.Now()
	t.Logf("power cut with %d shares acknowledged; back (seed %d): %s", acked, seed, strings.Join(booted, ", "))

	var after atomic.Int64
	first := make(chan struct{})
	afterCtx, stopAfter := context.WithCancel(ctx)
	minedAfter := mine(afterCtx, "after", &after, first)
	defer func() { stopAfter(); <-minedAfter }()
	select {
	case <-first:
	case <-time.After(5 * time.Minute):
		require.FailNow(t, "no share accepted within 5 minutes of the power coming back")
	}
	firstShare := time.Since(back)

	waitUntil(ctx, t, "leaders with three voters each", 3*time.Minute, func() bool {
		nr, err := nomad.Operator().RaftGetConfiguration(nil)
		if err != nil {
			return false
		}
		cr, err := consul.Operator().RaftGetConfiguration(nil)
		if err != nil {
			return false
		}
		nv, cv := 0, 0
		for _, s := range nr.Servers {
			if s.Voter {
				nv++
			}
		}
		for _, s := range cr.Servers {
			if s.Voter {
				cv++
			}
		}
		return nv == 3 && cv == 3
	})
	waitDBState(ctx, t, consul, pool.Name, "a primary and a synchronous standby again", 5*time.Minute, healthy)
	waitServices(ctx, t, consul, 5*time.Minute, pool.Name)
	waitRestarted(ctx, t, nomad, cut, 5*time.Minute)
	allHealthy := time.Since(back)

	var stored int64
	waitUntil(ctx, t, "every share acknowledged before the cut in the database", 5*time.Minute, func() bool {
		stored = sharesOf("before")
		return stored >= acked
	})
	t.Logf("power back: first accepted share %.1f s, every job healthy %.1f s; %d shares acknowledged before the cut, %d stored, %d lost",
		firstShare.Seconds(), allHealthy.Seconds(), acked, stored, max(acked-stored, 0))
}

// waitServices waits until the wallets, the stratum server and the
// database have every instance passing in Consul.
func waitServices(ctx context.Context, t *testing.T, consul *consulapi.Client, limit time.Duration, pool string) {
	t.Helper()
	want := map[string]int{contract.WalletService("ltc"): 2, contract.StratumService("ltc"): 1, contract.DatabaseService(pool): 2}
	waitUntil(ctx, t, fmt.Sprintf("every instance passing: %v", want), limit, func() bool {
		for service, n := range want {
			entries, _, err := consul.Health().Service(service, "", true, nil)
			if err != nil || len(entries) != n {
				return false
			}
		}
		return true
	})
}

// waitRestarted waits until every service job's allocations run tasks
// started after since: what the power cut stopped runs again.
func waitRestarted(ctx context.Context, t *testing.T, nomad *nomadapi.Client, since time.Time, limit time.Duration) {
	t.Helper()
	waitUntil(ctx, t, "every service job's tasks running again", limit, func() bool {
		jobs, _, err := nomad.Jobs().List(nil)
		if err != nil {
			return false
		}
		for _, j := range jobs {
			if j.Type != "service" || j.Stop {
				continue
			}
			allocs, _, err := nomad.Jobs().Allocations(j.ID, false, nil)
			if err != nil {
				return false
			}
			running := 0
			for _, a := range allocs {
				if a.DesiredStatus != "run" {
					continue
				}
				if a.ClientStatus != "running" {
					return false
				}
				for _, st := range a.TaskStates {
					if st.State == "running" && st.StartedAt.Before(since) {
						return false
					}
				}
				running++
			}
			if running == 0 {
				return false
			}
		}
		return true
	})
}

func waitUntil(ctx context.Context, t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			require.FailNow(t, fmt.Sprintf("waited %v for %s", limit, what))
		}
		time.Sleep(250 * time.Millisecond)
	}
}
