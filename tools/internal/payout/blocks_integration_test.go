package payout

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/chain"
	"github.com/scryptpool/poolmicrocloud/tools/internal/ledger"
	"github.com/scryptpool/poolmicrocloud/tools/internal/testenv"
)

// A found block is orphaned only on evidence, with two real regtest
// daemons: "pool", whose wallet holds the pool address's key, and "net",
// the rest of the network. The block tracker asks the pool's wallet only.
func TestBlocksOrphanedOnlyOnEvidence(t *testing.T) {
	testenv.Integration(t)
	ctx := context.Background()
	pg := testenv.StartPostgres(t)
	db, err := pgxpool.New(ctx, pg.DSN)
	require.NoError(t, err)
	t.Cleanup(db.Close)
	require.NoError(t, ledger.Migrate(ctx, db))

	poolNode, netNode := testenv.StartLitecoind(t), testenv.StartLitecoind(t)
	pool, net := walletClient(poolNode, "pool"), walletClient(netNode, "pool")
	var poolAddress, netAddress string
	require.NoError(t, pool.Call(ctx, "getnewaddress", nil, &poolAddress))
	require.NoError(t, net.Call(ctx, "getnewaddress", nil, &netAddress))
	connect := func() {
		t.Helper()
		require.NoError(t, poolNode.Client().SetNetworkActive(ctx, true))
		require.NoError(t, poolNode.Client().AddNode(ctx, netNode.P2PAddr))
		tip, err := net.BestBlockHash(ctx)
		require.NoError(t, err)
		require.NoError(t, poolNode.Client().Call(ctx, "waitforblock", []any{tip, 60000}, nil))
		got, err := pool.BestBlockHash(ctx)
		require.NoError(t, err)
		require.Equal(t, tip, got, "the pool's daemon caught up with the network")
	}
	cutOff := func() { t.Helper(); require.NoError(t, poolNode.Client().SetNetworkActive(ctx, false)) }
	mine := func(c *chain.Client, n int, to string) []string {
		t.Helper()
		hashes, err := c.GenerateToAddress(ctx, n, to)
		require.NoError(t, err)
		return hashes
	}
	height := func(c *chain.Client) int64 {
		n, err := c.BlockCount(ctx)
		require.NoError(t, err)
		return n
	}
	mine(net, 101, netAddress)
	connect()

	const depth = 10
	track := func() TrackResult {
		t.Helper()
		res, err := TrackBlocks(ctx, db, pool, TrackOptions{
			Coin: "ltc", Confirmations: 100, FeePercent: 1, Scheme: Scheme{Name: "pplns", Window: 2},
			UnitsPerCoin: unitsPerCoin, OrphanDepth: depth,
		})
		require.NoError(t, err)
		return res
	}
	record := func(h int64, hash string) int64 {
		t.Helper()
		var id int64
		// Found two hours ago: age is no evidence.
		require.NoError(t, db.QueryRow(ctx, `
			INSERT INTO blocks (coin, height, hash, address, reward, found_at)
			VALUES ('ltc', $1, $2, $3, 0, now() - interval '2 hours') RETURNING id`, h, hash, poolAddress).Scan(&id))
		return id
	}
	status := func(id int64) (string, string) {
		t.Helper()
		var st, note string
		require.NoError(t, db.QueryRow(ctx, `SELECT status, coalesce(note, '') FROM blocks WHERE id = $1`, id).Scan(&st, &note))
		return st, note
	}

	// 1. The pool's wallet is cut off while another instance of it takes
	// the pool's block to the network, which builds on it: the wallet that
	// holds the key knows nothing of it, however old it is.
	cutOff()
	found := mine(net, 1, poolAddress)[0]
	lagged := record(height(net), found)
	mine(net, depth+2, netAddress)
	track()
	st, _ := status(lagged)
	require.Equal(t, "pending", st, "a block the lagging wallet does not know yet")
	// Back on the network it learns the block, in the main chain.
	connect()
	track()
	st, _ = status(lagged)
	require.Equal(t, "pending", st, "the block is in the main chain")

	// 2. The pool's own block loses a race: found while its daemon was cut
	// off, the network's longer branch wins. Orphaned only once the main
	// chain is depth blocks past it.
	cutOff()
	lostHash := mine(pool, 1, poolAddress)[0]
	lostHeight := height(pool)
	lost := record(lostHeight, lostHash)
	mine(net, 3, netAddress)
	connect()
	track()
	st, _ = status(lost)
	require.Equal(t, "pending", st, "a branch %d blocks behind may still win", 3)
	mine(net, depth, netAddress)
	connect()
	track()
	st, note := status(lost)
	require.Equal(t, "orphaned", st)
	require.Contains(t, note, "in the main chain")

	// 3. A block no wallet knows (accepted, then lost before it spread):
	// pending while the main chain has not passed its height by depth,
	// orphaned once it has, on the evidence of the block at that height.
	ahead := record(height(pool)+1, "00000000000000000000000000000000000000000000000000000000deadbeef")
	behind := record(height(pool)-depth, "00000000000000000000000000000000000000000000000000000000feedface")
	track()
	st, _ = status(ahead)
	require.Equal(t, "pending", st, "no evidence yet for a height the chain has not reached")
	st, note = status(behind)
	require.Equal(t, "orphaned", st)
	require.Contains(t, note, "in the main chain")

	// 4. A block the pool's daemon stored but never connected: another
	// block at its height came first, so its wallet never saw the
	// coinbase. Orphaned on the chain's evidence, like any other.
	cutOff()
	mine(pool, 1, netAddress)
	stale := mine(net, 1, poolAddress)[0]
	var raw string
	require.NoError(t, netNode.Client().Call(ctx, "getblock", []any{stale, 0}, &raw))
	require.NoError(t, poolNode.Client().Call(ctx, "submitblock", []any{raw}, nil))
	var header struct {
		Confirmations int64 `json:"confirmations"`
	}
	require.NoError(t, pool.Call(ctx, "getblockheader", []any{stale}, &header))
	require.Equal(t, int64(-1), header.Confirmations, "the pool's daemon keeps the block off its main chain")
	staleID := record(height(pool), stale)
	mine(pool, depth, netAddress)
	require.NoError(t, poolNode.Client().SetNetworkActive(ctx, true))
	require.NoError(t, poolNode.Client().AddNode(ctx, netNode.P2PAddr))
	tip, err := pool.BestBlockHash(ctx)
	require.NoError(t, err)
	require.NoError(t, netNode.Client().Call(ctx, "waitforblock", []any{tip, 60000}, nil))
	track()
	st, note = status(staleID)
	require.Equal(t, "orphaned", st, "a block its daemon never connected")
	require.Contains(t, note, "in the main chain")

	// 5. A wallet with no peer is no witness.
	ahead = record(height(pool)+1, "00000000000000000000000000000000000000000000000000000000cafebabe")
	cutOff()
	mine(pool, depth+2, poolAddress)
	track()
	st, _ = status(ahead)
	require.Equal(t, "pending", st, "a wallet cut off from the network is no evidence")
}
