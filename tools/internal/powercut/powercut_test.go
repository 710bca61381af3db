package powercut_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	nomadapi "github.com/hashicorp/nomad/api"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/cluster"
	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
	"github.com/scryptpool/poolmicrocloud/tools/internal/powercut"
	"github.com/scryptpool/poolmicrocloud/tools/internal/testenv"
)

// deployedProductionPool deploys the dev example on four nodes shaped as
// the Pis are (three of them servers, the database's volume on three, two
// members) and returns it ready for power cuts, with a miner's address
// from a wallet.
func deployedProductionPool(t *testing.T, ctx context.Context) *powercut.Pool {
	p, _ := deployedProductionPoolAt(t, ctx)
	return p
}

// deployedProductionPoolAt is deployedProductionPool, with the pool
// definition's path. The wallets have a peer outside the cluster, as on
// mainnet they have the Internet (powercut.Internet).
func deployedProductionPoolAt(t *testing.T, ctx context.Context) (*powercut.Pool, string) {
	internet, err := powercut.Internet(ctx, os.Stderr)
	require.NoError(t, err)
	t.Cleanup(internet.Stop)
	poolPath, err := powercut.WriteVariant(testenv.Example(t, "dev"), t.TempDir(), 4, 3, 2, 3, internet.P2PAddr)
	require.NoError(t, err)
	pool, jobs := testenv.LoadPool(t, poolPath)
	c := testenv.StartCluster(t, pool, testenv.ClusterOptions{Clients: powercut.Clients(pool, jobs, 4, 3), Servers: 3, Production: true})
	testenv.Deploy(t, c, poolPath)
	nomad, err := c.NomadClient()
	require.NoError(t, err)
	consul, err := c.ConsulClient()
	require.NoError(t, err)
	_, err = powercut.WaitDatabase(ctx, consul, pool.Name, "a primary and a synchronous standby", 3*time.Minute, func(s powercut.Database) bool { return s.Healthy(2) })
	require.NoError(t, err)
	var address string
	waitUntil(ctx, t, "a passing wallet's new address", 3*time.Minute, func() bool {
		address, err = powercut.MinerAddress(ctx, nomad, consul, "ltc")
		return err == nil
	})
	p, err := powercut.New(ctx, c, pool, "ltc", address)
	require.NoError(t, err)
	p.Log = t.Logf
	return p, poolPath
}

// run runs a scenario and requires that nothing acknowledged was lost.
func run(t *testing.T, ctx context.Context, p *powercut.Pool, s powercut.Scenario) powercut.Result {
	seed := uint64(time.Now().UnixNano())
	res, err := p.Run(ctx, s, seed)
	require.NoError(t, err, "%s (seed %d):\n%s", s.Name, seed, strings.Join(res.Timeline, "\n"))
	t.Logf("%s (seed %d): first share %.1f s, every job healthy %.1f s after the last power came back; %d shares acknowledged before the cut, %d stored, %d lost; payouts %+v",
		s.Name, seed, res.FirstShare.Seconds(), res.AllHealthy.Seconds(), res.Acked, res.Stored, res.Lost, res.Payouts)
	assert.Zero(t, res.Lost, "shares acknowledged before the cut and missing after it")
	assert.Zero(t, res.Payouts.Doubled, "payouts sent twice")
	assert.Zero(t, res.Payouts.Lost, "payouts lost, or balances that do not add up")
	return res
}

// The whole cluster loses power while a miner mines: every agent and
// task of every node is killed at once, and the nodes come back in a
// random order, seconds apart. With nobody typing anything, Nomad and
// Consul elect leaders with all three servers voting, the database comes
// back with a primary and a synchronous standby, every service job's
// tasks run again, the miner's shares are accepted again, and every
// share acknowledged before the cut is in the database. The power stays
// off across a slot of the blocks job: each periodic job whose slot was
// missed runs once for it.
func TestWholeClusterPowerCut(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	p, poolPath := deployedProductionPoolAt(t, ctx)
	res := run(t, ctx, p, powercut.AllBack)
	// The power stayed off past a slot of the blocks job: it ran once
	// for the slot it missed, not zero times, not twice.
	blocks := contract.JobID("", "ltc", contract.KindBlocks) + ": slot "
	assert.True(t, slices.ContainsFunc(res.Slots, func(s string) bool {
		return strings.HasPrefix(s, blocks) && strings.Contains(s, "run once for it")
	}), "the blocks job, whose slot the cut spanned, ran once for it: %v", res.Slots)

	// poolctl status tells the story, read from Nomad and Patroni alone:
	// the slot missed and the run for it, and every node that ran a
	// service allocation across the cut found its tasks dead and ran them
	// again.
	events := recentEvents(t, ctx, p, poolPath)
	require.NotEmpty(t, res.CaughtUp)
	for _, s := range res.CaughtUp {
		want := fmt.Sprintf("slot %s missed; run once at %s", s.Slot.UTC().Format(time.TimeOnly), s.Launch.UTC().Format(time.TimeOnly))
		assert.True(t, hasLine(events, s.Job, want), "status tells %s: %q", s.Job, want)
	}
	for _, node := range survivors(t, ctx, p, res.CutAt) {
		assert.True(t, hasLine(events, " on "+node+" ", "its node restarted and found", "running again"), "status tells that %s restarted and its tasks ran again", node)
	}
	assert.NotContains(t, events, "not running again yet")
}

// hasLine says whether a line of text holds every one of parts.
func hasLine(text string, parts ...string) bool {
	return lineWith(text, parts...) != ""
}

// lineWith is the first line of text holding every part, or "".
func lineWith(text string, parts ...string) string {
	for _, line := range strings.Split(text, "\n") {
		if !slices.ContainsFunc(parts, func(part string) bool { return !strings.Contains(line, part) }) {
			return line
		}
	}
	return ""
}

// recentEvents is the "Recent events" of poolctl status's output.
func recentEvents(t *testing.T, ctx context.Context, p *powercut.Pool, poolPath string) string {
	out, err := exec.CommandContext(ctx, testenv.Poolctl(t), "status", "--since", "1h",
		"--address", p.Cluster.NomadAddr(), "--consul-address", p.Cluster.ConsulAddr(), poolPath).CombinedOutput()
	require.NoError(t, err, "%s", out)
	_, events, found := strings.Cut(string(out), "\nRecent events")
	require.True(t, found, "poolctl status has no recent events:\n%s", out)
	t.Logf("poolctl status's recent events:%s", events)
	return events
}

// survivors names the nodes running a service allocation that was
// placed before the cut at cutAt: their restart is what status must tell.
func survivors(t *testing.T, ctx context.Context, p *powercut.Pool, cutAt time.Time) []string {
	jobs, _, err := p.Nomad.Jobs().List((&nomadapi.QueryOptions{}).WithContext(ctx))
	require.NoError(t, err)
	nodes := map[string]bool{}
	for _, j := range jobs {
		if j.Type != "service" || j.ParentID != "" {
			continue
		}
		allocs, _, err := p.Nomad.Jobs().Allocations(j.ID, false, (&nomadapi.QueryOptions{}).WithContext(ctx))
		require.NoError(t, err)
		for _, a := range allocs {
			if a.ClientStatus == "running" && time.Unix(0, a.CreateTime).Before(cutAt) {
				nodes[a.NodeName] = true
			}
		}
	}
	require.NotEmpty(t, nodes, "no service allocation survived the cut")
	var out []string
	for n := range nodes {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// The power flaps: cut again while the servers elect their leaders, cut
// again while the database's members start, then back for good.
func TestPowerFlapping(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	p := deployedProductionPool(t, ctx)
	run(t, ctx, p, powercut.Flapping)
}

// The power goes while a payout runs (its intent written, the wallet
// asked or about to be): after the power comes back, the next payout run
// settles the intent from what the wallet says, and nobody is paid twice
// or not at all.
func TestPowerCutDuringAPayout(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	p := deployedProductionPool(t, ctx)
	res := run(t, ctx, p, powercut.DuringPayout)
	assert.Positive(t, res.Payouts.Sent, "a payout was sent")
	assert.Zero(t, res.Payouts.Open, "an intent left open")
}

// Every Pi is rebooted at once, as after unattended upgrades: systemd
// stops the agents politely, then the tasks; they come back in any order.
func TestPlannedRebootOfEveryPi(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	p := deployedProductionPool(t, ctx)
	run(t, ctx, p, powercut.PlannedReboot)
}

// The database primary's node, a server, never comes back from the cut:
// the two other servers elect leaders, the standby is promoted, and what
// ran on the dead node (the primary's member, perhaps a wallet) is placed
// on the others once the node is marked down. A stratum server there is
// moved off it before the cut (its share journal would go with it).
// Every wallet instance holds the pool's keys (issue 16 item 5): a
// payout is sent afterwards by a wallet that is left.
func TestServerNeverReturns(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	p, poolPath := deployedProductionPoolAt(t, ctx)
	victim, err := p.ServerToLose(ctx)
	require.NoError(t, err)
	require.Equal(t, p.PrimaryNode(ctx), victim, "the database's primary is on the server that never returns")
	neverReturns(t, ctx, p, poolPath, victim)
}

// A client's node (a Nomad client and no server, running a wallet
// instance as a Pi with a chain volume does) never comes back from the
// cut: the three servers keep their quorum, the wallet left serves work,
// and the lost instance is placed on another node once the node is marked
// down; a payout is sent afterwards. Before the cut a wallet instance is
// moved onto the node if none runs there, and a stratum server off it
// (its share journal would go with the node, as ServerToLose avoids too).
func TestClientNeverReturns(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	p, poolPath := deployedProductionPoolAt(t, ctx)
	victim, err := p.ClientToLose(ctx)
	require.NoError(t, err)
	holding, _, err := p.KeyHolders(ctx)
	require.NoError(t, err)
	require.Contains(t, holding, victim, "a wallet instance runs on the client that never returns")
	neverReturns(t, ctx, p, poolPath, victim)
}

// neverReturns cuts the power to every node, brings back all but victim,
// and requires what TestServerNeverReturns and TestClientNeverReturns
// say, and that poolctl status tells it.
func neverReturns(t *testing.T, ctx context.Context, p *powercut.Pool, poolPath, victim string) {
	primary := p.PrimaryNode(ctx)
	holding, not, err := p.KeyHolders(ctx)
	require.NoError(t, err)
	require.Empty(t, not, "every wallet instance holds the pool address's key (those that do: %v)", holding)
	if !slices.Contains(holding, victim) {
		t.Logf("%s runs no wallet: the wallets keep their nodes", victim)
	}
	services := 0
	allocs, _, err := p.Nomad.Allocations().List((&nomadapi.QueryOptions{}).WithContext(ctx))
	require.NoError(t, err)
	for _, a := range allocs {
		if a.NodeName == victim && a.ClientStatus == "running" && a.JobType == "service" {
			services++
		}
	}
	// After a leader election Nomad gives every node failover_heartbeat_ttl
	// (5 minutes) before it marks one down and moves its work: every job
	// is healthy again only then. Mining does not wait for it: the wallet
	// left alone keeps its peer outside the cluster (the Internet's) and
	// serves work.
	p.Wait = 10 * time.Minute
	// Until Nomad marks the node down, status tells it from Consul's
	// gossip: poolctl status is asked every few seconds all along, through
	// a server that comes back.
	var api cluster.Node
	for _, n := range p.Cluster.Servers() {
		if n.Name != victim {
			api = n
		}
	}
	poolctl := testenv.Poolctl(t)
	watchCtx, stopWatch := context.WithCancel(ctx)
	sawSilent := make(chan string, 1)
	go func() {
		saw := ""
		defer func() { sawSilent <- saw }()
		for saw == "" && watchCtx.Err() == nil {
			out, _ := exec.CommandContext(watchCtx, poolctl, "status", "--since", "1h",
				"--address", fmt.Sprintf("http://%s:%d", api.IP, cluster.NomadHTTPPort),
				"--consul-address", fmt.Sprintf("%s:%d", api.IP, cluster.ConsulHTTPPort), poolPath).CombinedOutput()
			saw = lineWith(string(out), "LOST", " "+victim+" ", "does not answer Consul")
			select {
			case <-watchCtx.Done():
			case <-time.After(5 * time.Second):
			}
		}
	}()
	s := powercut.NeverReturns(victim)
	res := run(t, ctx, p, s)
	stopWatch()
	silent := <-sawSilent
	assert.NotEmpty(t, silent, "before Nomad marked %s down, status told it from Consul", victim)
	t.Logf("poolctl status before Nomad marked %s down: %s", victim, strings.TrimSpace(silent))
	assert.Greater(t, res.AllHealthy, time.Duration(0))
	assert.Positive(t, res.Payouts.Sent, "a payout was sent with %s gone", victim)

	// poolctl status tells what was lost: the node, marked down and
	// still down, and its allocations, each replaced on another node.
	events := recentEvents(t, ctx, p, poolPath)
	assert.True(t, hasLine(events, "LOST", " "+victim+" ", "stopped answering Nomad"), "status tells %s went down", victim)
	assert.True(t, hasLine(events, "LOST", " "+victim+" ", "still down"), "status tells %s is still down", victim)
	if services > 0 {
		assert.True(t, hasLine(events, " on "+victim+" ", "replaced on "), "status tells where %s's work went", victim)
	} else {
		t.Logf("%s ran no service allocation: nothing to replace", victim)
	}
	if victim == primary {
		// The database's primary never returned: another member was
		// promoted.
		assert.True(t, hasLine(events, "database", "became the primary"), "status tells the database's promotion")
	} else {
		t.Logf("the database's primary was on %q, not on %s", primary, victim)
	}
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
