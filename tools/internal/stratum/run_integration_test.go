package stratum_test

import (
	"context"
	"log/slog"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/miner"
	"github.com/scryptpool/poolmicrocloud/tools/internal/stratum"
	"github.com/scryptpool/poolmicrocloud/tools/internal/testenv"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}

// waitFor polls cond (an RPC or a count: nothing to block on) until it
// holds or a minute passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		require.True(t, time.Now().Before(deadline), "waited a minute for %s", what)
		time.Sleep(100 * time.Millisecond)
	}
}

// End to end without Nomad: two real regtest wallets, real PostgreSQL,
// the server as `poolctl stratum` runs it, and our CPU miner. Blocks are
// accepted by litecoind and pay the pool address; shares and blocks land
// in the database; one wallet is frozen and then killed while the miner
// stays connected and keeps having shares and blocks accepted.
func TestStratumMinesRealBlocksThroughWalletFailure(t *testing.T) {
	testenv.Integration(t)
	ctx := context.Background()
	a, b := testenv.StartLitecoind(t), testenv.StartLitecoind(t)
	a.ConnectTo(t, b)
	poolAddress, err := a.Client().NewAddress(ctx)
	require.NoError(t, err)
	minerAddress, err := b.Client().NewAddress(ctx)
	require.NoError(t, err)
	db := testenv.StartPostgres(t)

	cfg := stratum.DefaultConfig()
	cfg.Coin, cfg.Network, cfg.Instance = "ltc", "regtest", "it"
	cfg.Vardiff.Start, cfg.Vardiff.Min = 0.01, 0.001
	cfg.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	listen := freeAddr(t)
	runCtx, stop := context.WithCancel(ctx)
	ran := make(chan struct{})
	var runErr error
	go func() {
		defer close(ran)
		runErr = stratum.Run(runCtx, stratum.RunOptions{
			Config: cfg, Listen: listen, MetricsListen: freeAddr(t),
			Wallets:    []string{a.RPCAddr, b.RPCAddr},
			WalletUser: a.User, WalletPassword: a.Password,
			DatabaseURL: db.DSN, PoolAddress: poolAddress, CoinbaseTag: "/it/", Drain: 2 * time.Second,
		})
	}()
	t.Cleanup(func() {
		stop()
		<-ran
	})
	waitFor(t, "the stratum check", func() bool { return stratum.Check(ctx, listen, time.Second) == nil })

	var accepted, rejected atomic.Int64
	m := miner.New(miner.Options{
		Addr: listen, User: minerAddress + ".rig1", Password: "x", Threads: 1,
		Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
		OnEvent: func(e miner.Event) {
			switch e.Kind {
			case "accepted":
				accepted.Add(1)
			case "rejected":
				rejected.Add(1)
			}
		},
	})
	mineCtx, stopMining := context.WithCancel(ctx)
	mined := make(chan struct{})
	go func() {
		defer close(mined)
		_ = m.Run(mineCtx)
	}()
	t.Cleanup(func() {
		stopMining()
		<-mined
	})

	height := func(l *testenv.Litecoind) int64 {
		callCtx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		h, err := l.Client().BlockCount(callCtx)
		if err != nil {
			return -1
		}
		return h
	}
	// progress waits until the miner has more accepted shares and the
	// wallet more blocks than now.
	progress := func(phase string, l *testenv.Litecoind, blocks int64) {
		t.Helper()
		shares, start := accepted.Load(), height(l)
		waitFor(t, phase+": accepted shares and blocks", func() bool {
			return accepted.Load() >= shares+5 && height(l) >= start+blocks
		})
	}

	progress("both wallets up", a, 3)
	best, err := a.Client().BestBlockHash(ctx)
	require.NoError(t, err)
	var block struct {
		Tx []struct {
			Vout []struct {
				ScriptPubKey struct {
					Address   string   `json:"address"`
					Addresses []string `json:"addresses"`
				} `json:"scriptPubKey"`
			} `json:"vout"`
		} `json:"tx"`
	}
	require.NoError(t, a.Client().Call(ctx, "getblock", []any{best, 2}, &block))
	paid := block.Tx[0].Vout[0].ScriptPubKey
	assert.Contains(t, append(paid.Addresses, paid.Address), poolAddress, "the coinbase pays the pool address")

	require.NoError(t, a.Cmd.Process.Signal(syscall.SIGSTOP))
	progress("wallet a frozen", b, 3)
	require.NoError(t, a.Cmd.Process.Signal(syscall.SIGCONT))
	require.NoError(t, a.Cmd.Process.Kill())
	// Regtest litecoind serves no template without a peer (-9); on the
	// cluster Nomad restarts the killed wallet, here its replacement is
	// started by hand.
	c := testenv.StartLitecoind(t)
	c.ConnectTo(t, b)
	progress("wallet a killed and replaced", b, 3)
	assert.Equal(t, int64(1), m.Stats().Connects, "the miner never had to reconnect")

	stopMining()
	<-mined
	stop()
	<-ran
	require.NoError(t, runErr, "the server shut down cleanly, writing what it held")

	conn, err := pgx.Connect(ctx, db.DSN)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var shares, blocks int64
	require.NoError(t, conn.QueryRow(ctx, "SELECT count(*) FROM shares WHERE address = $1 AND worker = 'rig1'", minerAddress).Scan(&shares))
	require.NoError(t, conn.QueryRow(ctx, "SELECT count(*) FROM blocks WHERE address = $1", minerAddress).Scan(&blocks))
	assert.Equal(t, accepted.Load(), shares, "every accepted share is in the database, once")
	assert.GreaterOrEqual(t, blocks, int64(9), "the blocks found are in the database")
	t.Logf("accepted %d shares (%d rejected), %d blocks recorded; wallet b at height %d", accepted.Load(), rejected.Load(), blocks, height(b))
}
