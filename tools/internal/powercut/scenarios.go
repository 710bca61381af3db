package powercut

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sort"
	"strings"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	nomadapi "github.com/hashicorp/nomad/api"

	"github.com/scryptpool/poolmicrocloud/tools/internal/cluster"
	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
	"github.com/scryptpool/poolmicrocloud/tools/internal/dbcluster"
	"github.com/scryptpool/poolmicrocloud/tools/internal/failover"
	"github.com/scryptpool/poolmicrocloud/tools/internal/jobspec"
)

// MaxDelay is how far apart the nodes' power comes back in the scenarios.
const MaxDelay = 5 * time.Second

// AllBack: every node loses power at once, for long enough to miss a
// periodic job's slot, and every node comes back; each periodic job whose
// slot was missed runs once for it.
var AllBack = Scenario{Name: "all back", Cuts: 1, MaxDelay: MaxDelay, AcrossSlot: true}

// Flapping: the power is cut again while the servers elect leaders, again
// while the database's members start (PostgreSQL's crash recovery), then
// comes back for good.
var Flapping = Scenario{
	Name: "flapping", Cuts: 3, MaxDelay: MaxDelay,
	Between: []Moment{
		{Name: "cut again during the leader election", Reached: electing},
		{Name: "cut again while the database's members start", Reached: databaseStarting},
	},
}

// DuringPayout: every node loses power while a payout runs, and comes
// back; the payout settles from its intent, once.
var DuringPayout = Scenario{Name: "during a payout", Cuts: 1, DuringPayout: true, MaxDelay: MaxDelay}

// PlannedReboot: every node is stopped as systemd stops it for a reboot.
var PlannedReboot = Scenario{Name: "planned reboot", Cuts: 1, Planned: true, MaxDelay: MaxDelay}

// NeverReturns: every node loses power and the named ones never come
// back.
// A payout is made once the pool is healthy again: the wallet lost with
// the node held the pool's keys, and so do the others.
func NeverReturns(nodes ...string) Scenario {
	return Scenario{Name: "never returns", Cuts: 1, MaxDelay: MaxDelay, NeverReturns: nodes, PayAfter: true}
}

// electing says the Nomad servers answer and have no leader yet, or have
// just elected one: the first answer after the power came back.
func electing(ctx context.Context, p *Pool) bool {
	var leader string
	_, err := p.Nomad.Raw().Query("/v1/status/leader", &leader, (&nomadapi.QueryOptions{}).WithContext(ctx))
	return err == nil || strings.Contains(err.Error(), "No cluster leader")
}

// databaseStarting says a database member's task has started since its
// node booted: PostgreSQL is in its crash recovery, or just past it.
func databaseStarting(ctx context.Context, p *Pool) bool {
	allocs, _, err := p.Nomad.Jobs().Allocations(contract.JobID(p.Pool.Name, "", contract.KindDatabase), false, (&nomadapi.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return false
	}
	for _, a := range allocs {
		for _, st := range a.TaskStates {
			if st.State == "running" && st.StartedAt.After(p.poweredAt) {
				return true
			}
		}
	}
	return false
}

// PrimaryNode names the node of the database's primary, as Patroni's
// keys say; "" when they name none or it cannot be read.
func (p *Pool) PrimaryNode(ctx context.Context) string {
	v, err := dbcluster.Read(ctx, p.Consul.KV(), p.Pool.Name, p.Pool.Database.Instances)
	if err != nil {
		return ""
	}
	for _, m := range v.Members {
		if m.Name != v.Leader {
			continue
		}
		host, _, _ := net.SplitHostPort(m.Address)
		for _, n := range p.Cluster.Nodes {
			if n.IP == host {
				return n.Name
			}
		}
	}
	return ""
}

// ServerToLose picks the server node to lose for good: the database
// primary's when it is a server, so that the primary never returns
// either; else the server running the most of a wallet and a database
// member (the last of those alike). A stratum server there is moved off
// it first: its share journal would go with the node (the shares it
// acknowledged in the second before the cut). Every wallet instance holds
// the pool's keys, so losing any of them leaves the others able to vouch
// for the pool address and to pay.
func (p *Pool) ServerToLose(ctx context.Context) (string, error) {
	ids, err := p.nodeIDs(ctx)
	if err != nil {
		return "", err
	}
	var primary string
	if err := p.wait(ctx, "the database's primary", func(ctx context.Context) bool {
		primary = p.PrimaryNode(ctx)
		return primary != ""
	}); err != nil {
		return "", err
	}
	servers := p.Cluster.Servers()
	victim := ""
	if slices.ContainsFunc(servers, func(n cluster.Node) bool { return n.Name == primary }) {
		victim = primary
	} else {
		most := -1
		for _, n := range servers {
			count := 0
			for _, job := range []string{contract.JobID("", p.Coin, contract.KindWallet), contract.JobID(p.Pool.Name, "", contract.KindDatabase)} {
				on, _, err := p.running(ctx, job, n.Name)
				if err != nil {
					return "", err
				}
				count += len(on)
			}
			if count >= most {
				victim, most = n.Name, count
			}
		}
	}
	if err := p.moveStratumOff(ctx, victim, ids); err != nil {
		return "", err
	}
	what := "not the database's primary (on " + primary + ")"
	if victim == primary {
		what = "the database's primary"
	}
	return victim, p.logVictim(ctx, victim, ids, what)
}

// ClientToLose picks the node that is a Nomad client and no server (the
// last such) to lose for good, as a Pi holding a chain volume and no
// server is, and makes it run what such a Pi runs: a wallet instance,
// and no stratum server (moved off it, as ServerToLose does). A wallet
// instance is moved onto it when none runs there: every other client is
// made ineligible and one instance stopped, so that Nomad places it
// there; the move waits until every instance passes again.
func (p *Pool) ClientToLose(ctx context.Context) (string, error) {
	victim := ""
	for _, n := range p.Cluster.Clients() {
		if !n.Server {
			victim = n.Name
		}
	}
	if victim == "" {
		return "", fmt.Errorf("every client of the cluster is a server too")
	}
	ids, err := p.nodeIDs(ctx)
	if err != nil {
		return "", err
	}
	if err := p.moveStratumOff(ctx, victim, ids); err != nil {
		return "", err
	}
	coin := p.coin()
	wallet := contract.JobID("", p.Coin, contract.KindWallet)
	on, elsewhere, err := p.running(ctx, wallet, victim)
	if err != nil {
		return "", err
	}
	if len(on) == 0 && len(elsewhere) > 0 {
		p.Log("%s runs no %s instance: moving one onto it", victim, wallet)
		var others []string
		for _, n := range p.Cluster.Clients() {
			if n.Name != victim {
				others = append(others, ids[n.Name])
			}
		}
		err := p.move(ctx, wallet, elsewhere[:1], others, func(ctx context.Context) bool {
			on, elsewhere, err := p.running(ctx, wallet, victim)
			all, there := p.passing(ctx, contract.WalletService(p.Coin), victim)
			return err == nil && len(on) == 1 && len(on)+len(elsewhere) == coin.Wallet.Instances &&
				all == coin.Wallet.Instances && there == 1
		})
		if err != nil {
			return "", err
		}
	}
	return victim, p.logVictim(ctx, victim, ids, "a client only")
}

// nodeIDs maps Nomad's node names to their IDs.
func (p *Pool) nodeIDs(ctx context.Context) (map[string]string, error) {
	nodes, _, err := p.Nomad.Nodes().List((&nomadapi.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("nodes: %w", err)
	}
	ids := map[string]string{}
	for _, n := range nodes {
		ids[n.Name] = n.ID
	}
	return ids, nil
}

// moveStratumOff has Nomad place the stratum servers running on victim on
// other nodes, and waits until every instance passes again. They are kept
// off the database's spare volume nodes too (those running no member):
// that is where the victim's member is placed once it is lost, and a
// stratum server moved there could leave it no room.
func (p *Pool) moveStratumOff(ctx context.Context, victim string, ids map[string]string) error {
	if ids[victim] == "" {
		return fmt.Errorf("Nomad knows no node %s", victim)
	}
	stratum := contract.JobID("", p.Coin, contract.KindStratum)
	on, _, err := p.running(ctx, stratum, victim)
	if err != nil || len(on) == 0 {
		return err
	}
	ineligible := []string{ids[victim]}
	database := contract.JobID(p.Pool.Name, "", contract.KindDatabase)
	for _, n := range p.Cluster.Clients() {
		if n.Name == victim || !slices.ContainsFunc(n.Client.Volumes, func(v cluster.Volume) bool { return v.Name == p.Pool.Database.Volume }) {
			continue
		}
		members, _, err := p.running(ctx, database, n.Name)
		if err != nil {
			return err
		}
		if len(members) == 0 {
			ineligible = append(ineligible, ids[n.Name])
		}
	}
	p.Log("%s runs %s: moving it to another node first (%d node(s) ineligible meanwhile)", victim, stratum, len(ineligible))
	instances := p.coin().Stratum.Instances
	return p.move(ctx, stratum, on, ineligible, func(ctx context.Context) bool {
		on, elsewhere, err := p.running(ctx, stratum, victim)
		all, there := p.passing(ctx, contract.StratumService(p.Coin), victim)
		return err == nil && len(on) == 0 && len(elsewhere) == instances && all == instances && there == 0
	})
}

// logVictim says which node will never return and what it runs.
func (p *Pool) logVictim(ctx context.Context, victim string, ids map[string]string, what string) error {
	allocs, _, err := p.Nomad.Nodes().Allocations(ids[victim], (&nomadapi.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return fmt.Errorf("allocations on %s: %w", victim, err)
	}
	var jobs []string
	for _, a := range allocs {
		if a.ClientStatus == "running" {
			jobs = append(jobs, a.JobID)
		}
	}
	sort.Strings(jobs)
	p.Log("%s will never return (%s); it runs %s", victim, what, strings.Join(jobs, ", "))
	return nil
}

// running lists job's running allocations on node and elsewhere.
func (p *Pool) running(ctx context.Context, job, node string) (on, elsewhere []string, err error) {
	allocs, _, err := p.Nomad.Jobs().Allocations(job, false, (&nomadapi.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return nil, nil, fmt.Errorf("allocations of %s: %w", job, err)
	}
	for _, a := range allocs {
		if a.ClientStatus != "running" || a.DesiredStatus != "run" {
			continue
		}
		if a.NodeName == node {
			on = append(on, a.ID)
		} else {
			elsewhere = append(elsewhere, a.ID)
		}
	}
	return on, elsewhere, nil
}

// passing counts service's passing instances, and those on node.
func (p *Pool) passing(ctx context.Context, service, node string) (all, on int) {
	entries, _, err := p.Consul.Health().Service(service, "", true, (&consulapi.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return -1, -1
	}
	for _, e := range entries {
		if e.Node != nil && e.Node.Node == node {
			on++
		}
	}
	return len(entries), on
}

// move stops job's allocations stop with the nodes ineligible made
// ineligible, so that Nomad places them on the others, waits until done,
// and makes the nodes eligible again, whatever happened meanwhile.
func (p *Pool) move(ctx context.Context, job string, stop, ineligible []string, done func(context.Context) bool) (err error) {
	made := 0
	defer func() {
		// Even when ctx has ended: a node left ineligible takes no work.
		restore, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		w := (&nomadapi.WriteOptions{}).WithContext(restore)
		for _, id := range ineligible[:made] {
			if _, e := p.Nomad.Nodes().ToggleEligibility(id, true, w); e != nil {
				err = errors.Join(err, fmt.Errorf("make node %s eligible again: %w", id, e))
			}
		}
	}()
	w := (&nomadapi.WriteOptions{}).WithContext(ctx)
	for _, id := range ineligible {
		if _, err := p.Nomad.Nodes().ToggleEligibility(id, false, w); err != nil {
			return fmt.Errorf("make node %s ineligible: %w", id, err)
		}
		made++
	}
	for _, id := range stop {
		if _, err := p.Nomad.Allocations().Stop(&nomadapi.Allocation{ID: id}, (&nomadapi.QueryOptions{}).WithContext(ctx)); err != nil {
			return fmt.Errorf("stop allocation %s of %s: %w", id, job, err)
		}
	}
	return p.wait(ctx, job+" placed again and passing", done)
}

// KeyHolders are the nodes whose wallet instance holds the key of the
// pool address the stratum servers keep in Consul KV, and those whose
// passing instance does not.
func (p *Pool) KeyHolders(ctx context.Context) (holding, not []string, err error) {
	key := contract.PoolAddressKey(p.Pool.Name, p.Coin)
	pair, _, err := p.Consul.KV().Get(key, (&consulapi.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return nil, nil, fmt.Errorf("read the pool address at %s: %w", key, err)
	}
	if pair == nil || len(pair.Value) == 0 {
		return nil, nil, fmt.Errorf("no pool address at %s yet", key)
	}
	wallets, _, err := p.Consul.Health().Service(contract.WalletService(p.Coin), "", true, (&consulapi.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return nil, nil, fmt.Errorf("find the wallets: %w", err)
	}
	for _, w := range wallets {
		client, err := failover.WalletClient(ctx, p.Nomad, jobspec.WalletSecretsPath(p.Coin), fmt.Sprintf("%s:%d", w.Service.Address, w.Service.Port))
		if err != nil {
			return nil, nil, err
		}
		mine, err := client.OwnsAddress(ctx, string(pair.Value))
		if err != nil {
			return nil, nil, fmt.Errorf("ask the wallet on %s whether it holds the pool address's key: %w", w.Node.Node, err)
		}
		if mine {
			holding = append(holding, w.Node.Node)
		} else {
			not = append(not, w.Node.Node)
		}
	}
	sort.Strings(holding)
	sort.Strings(not)
	return holding, not, nil
}

// walletsInStep reports whether every registered wallet instance has the
// same best block and, where there are several, a peer; desc says what
// each has. A node lost for good takes its wallet's chain with it if no
// other instance holds it: the scenarios lose nodes of a pool whose
// wallets had caught up with one another, as a healthy pool's do.
func (p *Pool) walletsInStep(ctx context.Context) (ok bool, desc string) {
	wallets, _, err := p.Consul.Health().Service(contract.WalletService(p.Coin), "", false, (&consulapi.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return false, fmt.Sprintf("find the wallets: %v", err)
	}
	if len(wallets) == 0 {
		return false, "no wallet instance registered"
	}
	var parts []string
	tips := map[string]bool{}
	ok = true
	for _, w := range wallets {
		client, err := failover.WalletClient(ctx, p.Nomad, jobspec.WalletSecretsPath(p.Coin), fmt.Sprintf("%s:%d", w.Service.Address, w.Service.Port))
		if err != nil {
			return false, err.Error()
		}
		info, err := client.BlockchainInfo(ctx)
		if err != nil {
			parts = append(parts, fmt.Sprintf("%s: %v", w.Node.Node, err))
			ok = false
			continue
		}
		peers, err := client.Peers(ctx)
		if err != nil {
			parts = append(parts, fmt.Sprintf("%s: height %d, peers: %v", w.Node.Node, info.Blocks, err))
			ok = false
			continue
		}
		parts = append(parts, fmt.Sprintf("%s: height %d, %d peer(s)", w.Node.Node, info.Blocks, len(peers)))
		tips[info.BestBlockHash] = true
		if len(wallets) > 1 && len(peers) == 0 {
			ok = false
		}
	}
	sort.Strings(parts)
	return ok && len(tips) == 1, strings.Join(parts, "; ")
}
