package powercut

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sort"
	"strings"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	nomadapi "github.com/hashicorp/nomad/api"

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

// ServerToLose picks the server node to lose for good: the one running
// the most of a wallet and a database member, and not one running
// avoidJob (the stratum server, whose share journal would go with its
// node); of those alike, the database's primary's, so that the primary
// never returns either. With none such, the last server. Every wallet instance holds the
// pool's keys, so losing any of them leaves the others able to vouch for
// the pool address and to pay.
func (p *Pool) ServerToLose(ctx context.Context, avoidJob string) (string, error) {
	q := (&nomadapi.QueryOptions{}).WithContext(ctx)
	onNode := map[string][]string{}
	for _, job := range []string{contract.JobID("", p.Coin, contract.KindWallet), contract.JobID(p.Pool.Name, "", contract.KindDatabase), avoidJob} {
		allocs, _, err := p.Nomad.Jobs().Allocations(job, false, q)
		if err != nil {
			return "", fmt.Errorf("allocations of %s: %w", job, err)
		}
		for _, a := range allocs {
			if a.ClientStatus == "running" {
				onNode[a.NodeName] = append(onNode[a.NodeName], job)
			}
		}
	}
	primaryOn := p.PrimaryNode(ctx)
	servers := p.Cluster.Servers()
	victim := ""
	for _, n := range servers {
		jobs := onNode[n.Name]
		if len(jobs) == 0 || slices.Contains(jobs, avoidJob) {
			continue
		}
		if victim == "" || len(jobs) > len(onNode[victim]) || len(jobs) == len(onNode[victim]) && n.Name == primaryOn {
			victim = n.Name
		}
	}
	if victim != "" {
		primary := "not the database's primary (on " + primaryOn + ")"
		if victim == primaryOn {
			primary = "the database's primary"
		}
		p.Log("%s will never return; it runs %s, %s", victim, strings.Join(onNode[victim], ", "), primary)
		return victim, nil
	}
	last := servers[len(servers)-1].Name
	p.Log("no server runs a wallet or a database member without %s (%v): %s will never return", avoidJob, onNode, last)
	return last, nil
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
