package powercut

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	consulapi "github.com/hashicorp/consul/api"
	nomadapi "github.com/hashicorp/nomad/api"

	"github.com/scryptpool/poolmicrocloud/tools/internal/chain"
	"github.com/scryptpool/poolmicrocloud/tools/internal/cluster"
	"github.com/scryptpool/poolmicrocloud/tools/internal/config"
	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
	"github.com/scryptpool/poolmicrocloud/tools/internal/failover"
	"github.com/scryptpool/poolmicrocloud/tools/internal/jobspec"
	"github.com/scryptpool/poolmicrocloud/tools/internal/regtest"
)

// Variant rewrites the dev example (examples/dev/pool.hcl) for a cluster
// of nodes nodes of which servers are servers, with the database on
// members members over dataNodes nodes holding its volume, and the
// wallets' peers (Internet's). The dev example is meant for one machine;
// the rewrite fails when it no longer has the lines it changes.
func Variant(dev string, nodes, servers, members, dataNodes int, peers ...string) (string, error) {
	peerList := ""
	if len(peers) > 0 {
		quoted := make([]string, len(peers))
		for i, p := range peers {
			quoted[i] = strconv.Quote(p)
		}
		peerList = "    peers      = [" + strings.Join(quoted, ", ") + "]\n"
	}
	for _, r := range []struct{ old, repl string }{
		{"  wallet {\n", "  wallet {\n" + peerList},
		{"servers        = 1", fmt.Sprintf("servers        = %d", servers)},
		{"nodes          = 1", fmt.Sprintf("nodes          = %d", nodes)},
		{"host_volume \"pool-data\" {\n    nodes = 1", fmt.Sprintf("host_volume \"pool-data\" {\n    nodes = %d", dataNodes)},
		{"database {\n", fmt.Sprintf("database {\n  instances = %d\n", members)},
	} {
		if !strings.Contains(dev, r.old) {
			return "", fmt.Errorf("the dev example has no %q any more: update powercut.Variant", r.old)
		}
		dev = strings.Replace(dev, r.old, r.repl, 1)
	}
	return dev, nil
}

// WriteVariant writes Variant of the dev example at devPath into
// dir/pool.hcl and returns that path.
func WriteVariant(devPath, dir string, nodes, servers, members, dataNodes int, peers ...string) (string, error) {
	src, err := os.ReadFile(devPath)
	if err != nil {
		return "", err
	}
	s, err := Variant(string(src), nodes, servers, members, dataNodes, peers...)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "pool.hcl")
	return path, os.WriteFile(path, []byte(s), 0o644)
}

// Internet starts a regtest daemon outside the cluster, no node's power
// cut reaching it, for the wallets to keep as a peer (Variant's peers):
// on mainnet a wallet has its peers on the Internet, so one whose
// siblings' nodes are all dead still has peers and serves work, where on
// regtest alone it has none and Litecoin's getblocktemplate answers "not
// connected". Stop it when done.
func Internet(ctx context.Context, stderr io.Writer) (*regtest.Daemon, error) {
	return regtest.Start(ctx, "internet", stderr)
}

// Clients are n clients shaped as the pool's model says its nodes are
// (CPU, memory, the agents' reservation), each with a chain volume, the
// first dataNodes with the database's volume too. Smaller nodes than the
// model's leave no room for the periodic jobs beside the services (a
// database stopped and deployed again found its room taken by them).
func Clients(pool *config.Pool, jobs []*jobspec.Job, n, dataNodes int) []cluster.Client {
	owners := jobspec.VolumeOwners(jobs)
	cl := pool.Cluster
	clients := make([]cluster.Client, n)
	for i := range clients {
		clients[i] = cluster.Client{
			Name: fmt.Sprintf("node-%02d", i+1), CPUMHz: cl.NodeCPUMHz, MemoryMB: cl.NodeMemoryMB,
			ReservedCPUMHz: cl.ReservedCPUMHz, ReservedMemoryMB: cl.ReservedMemoryMB,
		}
		clients[i].Volumes = append(clients[i].Volumes, cluster.Volume{Name: "ltc-chain", Owner: owners["ltc-chain"]})
		if i < dataNodes {
			clients[i].Volumes = append(clients[i].Volumes, cluster.Volume{Name: "pool-data", Owner: owners["pool-data"]})
		}
	}
	return clients
}

// MinerAddress is an address of the miner's own for coin, of a fresh key
// that no wallet of the pool holds (a passing wallet's daemon derives it,
// no wallet involved), as a miner's payout address is. An address of the
// pool's wallet would not do: every instance holds the pool's HD seed, so
// each would take a payout to it for change, and only the instance whose
// address book has it would list the payout (listtransactions); once
// that instance's node was gone, the payout looked lost.
func MinerAddress(ctx context.Context, nomad *nomadapi.Client, consul *consulapi.Client, coin string) (string, error) {
	wallets, _, err := consul.Health().Service(contract.WalletService(coin), "", true, (&consulapi.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return "", err
	}
	if len(wallets) == 0 {
		return "", fmt.Errorf("no %s wallet passing", coin)
	}
	w := wallets[0].Service
	daemon, err := failover.WalletClient(ctx, nomad, jobspec.WalletSecretsPath(coin), fmt.Sprintf("%s:%d", w.Address, w.Port))
	if err != nil {
		return "", err
	}
	info, err := daemon.BlockchainInfo(ctx)
	if err != nil {
		return "", err
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return "", err
	}
	wif, err := chain.WIF(key, info.Chain)
	if err != nil {
		return "", err
	}
	return daemon.KeyAddress(ctx, wif)
}
