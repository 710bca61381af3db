package cli_test

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	nomadapi "github.com/hashicorp/nomad/api"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/cluster"
	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
	"github.com/scryptpool/poolmicrocloud/tools/internal/failover"
	"github.com/scryptpool/poolmicrocloud/tools/internal/jobspec"
	"github.com/scryptpool/poolmicrocloud/tools/internal/miner"
)

// minerAddress is a regtest address nobody holds the key of: shares are
// credited to it, nothing is ever paid from it.
const minerAddress = "mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn"

// serviceAddr is the first instance of a Consul service, host:port.
func serviceAddr(t *testing.T, c *cluster.Cluster, service string) string {
	t.Helper()
	consul, err := c.ConsulClient()
	require.NoError(t, err)
	entries, _, err := consul.Health().Service(service, "", true, nil)
	require.NoError(t, err)
	require.NotEmpty(t, entries, "no passing %s", service)
	e := entries[0]
	addr := e.Service.Address
	if addr == "" {
		addr = e.Node.Address
	}
	return net.JoinHostPort(addr, strconv.Itoa(e.Service.Port))
}

// currentWallet reads which wallet the stratum server works from, from
// its own metrics.
func currentWallet(t *testing.T, metricsAddr string) string {
	t.Helper()
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	re := regexp.MustCompile(`^stratum_current_wallet\{wallet="([^"]+)"\} 1`)
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			return m[1]
		}
	}
	t.Fatal("the stratum server names no current wallet")
	return ""
}

// walletAllocs maps each running wallet allocation's RPC address to its id.
func walletAllocs(t *testing.T, nomad *nomadapi.Client) map[string]string {
	t.Helper()
	stubs, _, err := nomad.Jobs().Allocations("ltc-wallet", false, nil)
	require.NoError(t, err)
	out := map[string]string{}
	for _, s := range stubs {
		if s.ClientStatus != "running" {
			continue
		}
		a, _, err := nomad.Allocations().Info(s.ID, nil)
		require.NoError(t, err)
		for _, p := range a.AllocatedResources.Shared.Ports {
			if p.Label == "rpc" {
				out[net.JoinHostPort(p.HostIP, strconv.Itoa(p.Value))] = a.ID
			}
		}
	}
	return out
}

// mineInBackground runs our CPU miner against addr as user until stop is
// called (stop returns once it has ended), counting its accepted shares.
func mineInBackground(addr, user string) (m *miner.Miner, accepted *atomic.Int64, stop func()) {
	accepted = new(atomic.Int64)
	m = miner.New(miner.Options{
		Addr: addr, User: user, Password: "x", Threads: 1,
		Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
		OnEvent: func(e miner.Event) {
			if e.Kind == "accepted" {
				accepted.Add(1)
			}
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = m.Run(ctx)
	}()
	return m, accepted, func() { cancel(); <-done }
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		require.True(t, time.Now().Before(deadline), "waited two minutes for %s", what)
		time.Sleep(200 * time.Millisecond)
	}
}

// mineThroughWalletFailures mines through the deployed stratum server with
// our CPU miner: litecoind accepts the blocks and the coinbase pays the
// pool address; the wallet the server works from is frozen, then killed,
// and the miner stays connected and keeps having shares and blocks
// accepted; every accepted share is in the pool's database.
func mineThroughWalletFailures(t *testing.T, c *cluster.Cluster) {
	ctx := context.Background()
	nomad, err := c.NomadClient()
	require.NoError(t, err)
	consul, err := c.ConsulClient()
	require.NoError(t, err)
	stratumAddr := serviceAddr(t, c, contract.StratumService("ltc"))
	metricsAddr := serviceAddr(t, c, contract.StratumMetricsService("ltc"))

	m, accepted, stopMining := mineInBackground(stratumAddr, minerAddress+".e2e")
	defer stopMining()

	heightOf := func(addr string) int64 {
		callCtx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		client, err := failover.WalletClient(callCtx, nomad, jobspec.WalletSecretsPath("ltc"), addr)
		if err != nil {
			return -1
		}
		h, err := client.BlockCount(callCtx)
		if err != nil {
			return -1
		}
		return h
	}
	progress := func(phase, wallet string) {
		t.Helper()
		shares, start := accepted.Load(), heightOf(wallet)
		waitUntil(t, phase+": accepted shares and blocks", func() bool {
			return accepted.Load() >= shares+5 && heightOf(wallet) >= start+2
		})
	}

	wallets := walletAllocs(t, nomad)
	require.Len(t, wallets, 2)
	current := currentWallet(t, metricsAddr)
	require.Contains(t, wallets, current)
	var other string
	for addr := range wallets {
		if addr != current {
			other = addr
		}
	}
	progress("both wallets up", current)

	pair, _, err := consul.KV().Get(contract.PoolAddressKey("devpool", "ltc"), nil)
	require.NoError(t, err)
	require.NotNil(t, pair, "the pool address is kept in Consul KV")
	client, err := failover.WalletClient(ctx, nomad, jobspec.WalletSecretsPath("ltc"), current)
	require.NoError(t, err)
	best, err := client.BestBlockHash(ctx)
	require.NoError(t, err)
	var block struct {
		Tx []struct {
			Vout []struct {
				ScriptPubKey struct {
					// Litecoin Core 0.21 still lists addresses; later
					// versions name one.
					Address   string   `json:"address"`
					Addresses []string `json:"addresses"`
				} `json:"scriptPubKey"`
			} `json:"vout"`
		} `json:"tx"`
	}
	require.NoError(t, client.Call(ctx, "getblock", []any{best, 2}, &block))
	paid := block.Tx[0].Vout[0].ScriptPubKey
	assert.Contains(t, append(paid.Addresses, paid.Address), string(pair.Value), "the coinbase pays the pool address")

	victim := wallets[current]
	require.NoError(t, failover.Hang(victim))
	progress("the server's wallet frozen", other)
	require.NoError(t, failover.Resume(victim))
	// While it was frozen, its probe's check may already have had Nomad
	// restart it (check_restart, as a hung daemon should be; a cold run
	// under load waited that long for the other wallet's blocks): the
	// crash hits the daemon that runs now.
	waitUntil(t, "the frozen wallet's daemon running", func() bool {
		_, err := failover.DaemonPID(victim)
		return err == nil
	})
	require.NoError(t, failover.Crash(victim))
	// Nomad restarts the killed daemon in place. The first answer it
	// gives past warm-up must already list the pool's wallet: a payout or
	// backup that reaches it then must not find "No wallet is loaded".
	var loaded []string
	listWallets := func() error {
		callCtx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		return client.Call(callCtx, "listwallets", nil, &loaded)
	}
	waitUntil(t, "the killed wallet stops answering", func() bool { return listWallets() != nil })
	waitUntil(t, "the killed wallet answers again", func() bool {
		for end := time.Now().Add(time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
			if listWallets() == nil {
				return true
			}
		}
		return false
	})
	assert.Contains(t, loaded, jobspec.WalletName, "the restarted daemon loaded the pool's wallet before its RPC answered")
	progress("the server's wallet killed", other)
	assert.Equal(t, int64(1), m.Stats().Connects, "the miner never had to reconnect")

	stopMining()
	dsn := devDatabase(t, c)
	var shares, blocks int64
	lastErr := ""
	waitUntil(t, "the accepted shares in the database", func() bool {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			if err.Error() != lastErr {
				t.Logf("database: %v", err)
				lastErr = err.Error()
			}
			return false
		}
		defer conn.Close(ctx)
		if conn.QueryRow(ctx, "SELECT count(*) FROM shares WHERE address = $1 AND worker = 'e2e'", minerAddress).Scan(&shares) != nil ||
			conn.QueryRow(ctx, "SELECT count(*) FROM blocks WHERE address = $1", minerAddress).Scan(&blocks) != nil {
			return false
		}
		return shares >= accepted.Load()
	})
	assert.Equal(t, accepted.Load(), shares, "every accepted share is in the database, once")
	assert.GreaterOrEqual(t, blocks, int64(6))
	t.Logf("mined %d accepted shares and %d blocks through the pool", shares, blocks)
}
