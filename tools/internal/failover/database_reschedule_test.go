package failover_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	nomadapi "github.com/hashicorp/nomad/api"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
	"github.com/scryptpool/poolmicrocloud/tools/internal/ledger"
	"github.com/scryptpool/poolmicrocloud/tools/internal/testenv"
)

// The production shape: the database's volume on three nodes, two
// members. The primary's node loses power and never comes back: the
// synchronous standby takes over, Nomad marks the node down and places a
// new member on the third node, whose empty volume makes it copy the new
// primary and become its synchronous standby, with nobody touching
// anything. Every share committed before the cut is on the new primary.
func TestDatabaseMemberMovesToTheThirdNode(t *testing.T) {
	poolPath := replicatedDevPool(t, 3)
	pool, jobs := testenv.LoadPool(t, poolPath)
	clients := threeNodes(pool, jobs, 3)
	c := testenv.StartCluster(t, pool, testenv.ClusterOptions{Clients: clients, Servers: 1})
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
	victim, survivor := start.Leader, start.SyncStandby
	jobID := contract.JobID(pool.Name, "", contract.KindDatabase)
	before := runningMembers(t, nomad, jobID)
	require.Len(t, before, 2, "database allocations running: %v", before)
	third := ""
	for _, cl := range clients {
		if _, ok := before[cl.Name]; !ok {
			third = cl.Name
		}
	}
	require.NotEmpty(t, third, "a node holding the volume and no member: %v", before)
	t.Logf("primary %s, synchronous standby %s, %s holds the volume and no member", victim, survivor, third)

	// Shares the ledger committed: with synchronous replication each
	// commit was on the standby before the ledger heard it was done.
	db, err := ledger.Open(poolDSN(t, c), consul, contract.DatabaseService(pool.Name), 2)
	require.NoError(t, err)
	defer db.Close()
	require.NoError(t, ledger.Migrate(ctx, db), "the ledger's tables, if no stratum server made them yet")
	w := ledger.NewWriter(db, ledger.WriterOptions{})
	writeCtx, stopWriter := context.WithCancel(ctx)
	written := make(chan error, 1)
	go func() { written <- w.Run(writeCtx) }()
	const address, shares = "reschedule-test", 200
	for i := range shares {
		require.NoError(t, w.Add(ledger.Share{
			Key: fmt.Sprintf("reschedule-%d", i), Coin: "ltc", Address: address, Worker: "w",
			Difficulty: 1, Height: 1, Instance: "test", At: time.Now(),
		}))
	}
	flushCtx, cancelFlush := context.WithTimeout(ctx, time.Minute)
	require.NoError(t, w.Flush(flushCtx))
	cancelFlush()
	stopWriter()
	require.NoError(t, <-written)
	require.EqualValues(t, shares, w.Stats().Written)

	cut := time.Now()
	require.NoError(t, c.PowerOff(ctx, victim))
	t.Logf("power cut on %s, the primary, with %d shares committed; it stays off", victim, shares)

	waitDB("the synchronous standby promoted", 2*time.Minute, func(s dbState) bool {
		p, ok := s.Members[s.Leader]
		return s.Leader == survivor && ok && p.State == "running" && p.Role != "replica"
	})
	promoted := time.Since(cut)

	// Nomad replaces the member only once it has given up on the node:
	// no heartbeat for the TTL it granted plus the servers' grace. The
	// waits run one after another, so each figure comes from Nomad's own
	// record of when it happened.
	var victimID string
	waitNomad(ctx, t, "the servers to mark "+victim+" down", 3*time.Minute, func(q *nomadapi.QueryOptions) (bool, uint64, error) {
		nodes, meta, err := nomad.Nodes().List(q)
		if err != nil {
			return false, 0, err
		}
		for _, n := range nodes {
			if n.Name == victim && n.Status == "down" {
				victimID = n.ID
				return true, meta.LastIndex, nil
			}
		}
		return false, meta.LastIndex, nil
	})
	node, _, err := nomad.Nodes().Info(victimID, nil)
	require.NoError(t, err)
	down := time.Unix(node.StatusUpdatedAt, 0)
	for _, e := range node.Events {
		if e.Message == "Node heartbeat missed" && e.Timestamp.After(cut) {
			down = e.Timestamp
		}
	}
	var placed, running time.Time
	waitNomad(ctx, t, "a member running on "+third, 5*time.Minute, func(q *nomadapi.QueryOptions) (bool, uint64, error) {
		allocs, meta, err := nomad.Jobs().Allocations(jobID, false, q)
		if err != nil {
			return false, 0, err
		}
		for _, a := range allocs {
			if a.NodeName == third && a.DesiredStatus == "run" && a.ClientStatus == "running" {
				placed = time.Unix(0, a.CreateTime)
				for _, ts := range a.TaskStates {
					running = ts.StartedAt
				}
				return true, meta.LastIndex, nil
			}
		}
		return false, meta.LastIndex, nil
	})
	after := waitDB("the member on "+third+" the new primary's synchronous standby", 5*time.Minute, func(s dbState) bool {
		m, ok := s.Members[third]
		return s.Leader == survivor && ok && m.State == "running" && m.Role == "replica" && s.SyncStandby == third
	})
	synced := time.Since(cut)
	t.Logf("after the cut: %s primary %.1f s; %s down %.1f s; a member placed on %s %.1f s, its task started %.1f s; synchronous standby %.1f s",
		survivor, promoted.Seconds(), victim, down.Sub(cut).Seconds(), third, placed.Sub(cut).Seconds(), running.Sub(cut).Seconds(), synced.Seconds())
	t.Logf("members now: %+v", after.Members)
	assert.NotContains(t, after.Members, victim, "the dead member's key went with its Consul session")

	var lost []string
	allocs, _, err := nomad.Jobs().Allocations(jobID, false, nil)
	require.NoError(t, err)
	for _, a := range allocs {
		if a.NodeName == victim {
			lost = append(lost, a.ClientStatus)
		}
	}
	assert.Contains(t, lost, "lost", "the allocation on %s", victim)
	assert.Equal(t, map[string]bool{survivor: true, third: true}, runningMembers(t, nomad, jobID))

	var onPrimary int64
	deadline := time.Now().Add(2 * time.Minute)
	for {
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := db.QueryRow(qctx, "SELECT count(*) FROM shares WHERE address = $1", address).Scan(&onPrimary)
		cancel()
		if err == nil {
			break
		}
		require.True(t, time.Now().Before(deadline), "read the new primary: %v", err)
		time.Sleep(time.Second)
	}
	assert.EqualValues(t, shares, onPrimary, "shares committed before the cut, on the new primary")
	t.Logf("shares: %d committed before the cut, %d on the new primary", shares, onPrimary)
}

// runningMembers are the nodes where the database job's allocations run.
func runningMembers(t *testing.T, nomad *nomadapi.Client, jobID string) map[string]bool {
	t.Helper()
	allocs, _, err := nomad.Jobs().Allocations(jobID, false, nil)
	require.NoError(t, err)
	nodes := map[string]bool{}
	for _, a := range allocs {
		if a.ClientStatus == "running" && a.DesiredStatus == "run" {
			nodes[a.NodeName] = true
		}
	}
	return nodes
}

// waitNomad asks cond, with blocking queries, until it holds; it fails
// the test when limit passes first.
func waitNomad(ctx context.Context, t *testing.T, what string, limit time.Duration, cond func(*nomadapi.QueryOptions) (bool, uint64, error)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	var index uint64
	for {
		ok, next, err := cond((&nomadapi.QueryOptions{WaitIndex: index, WaitTime: 10 * time.Second}).WithContext(ctx))
		switch {
		case ok:
			return
		case ctx.Err() != nil:
			require.FailNow(t, "nomad: waited "+limit.String()+" for "+what, "last error %v", err)
		case err != nil:
			// The server may be busy; ask again after a moment.
			time.Sleep(250 * time.Millisecond)
			index = 0
		default:
			index = next
		}
	}
}
