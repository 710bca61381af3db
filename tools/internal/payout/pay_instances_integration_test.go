package payout

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/chain"
	"github.com/scryptpool/poolmicrocloud/tools/internal/ledger"
	"github.com/scryptpool/poolmicrocloud/tools/internal/secrets"
	"github.com/scryptpool/poolmicrocloud/tools/internal/testenv"
)

// Every wallet instance holds the pool's keys (issue 16 item 5): two
// daemons, A and B, each make their wallet blank and give it the pool's
// HD seed, as the probe does. A makes the pool address; B makes the same
// one. Then A pays while cut off from the network, so that B never hears
// of that payout, and loses power in the middle of the next one, its
// transaction built and stored but never broadcast. With A gone for good,
// a run on B pays: it gives B the payout B never heard of from the bytes
// stored with it, settles the open intent by broadcasting its stored
// transaction, and pays the rest from B. On B's chain every miner is
// paid exactly what the ledger says it was paid, once.
func TestAnyWalletInstancePays(t *testing.T) {
	testenv.Integration(t)
	ctx := context.Background()
	pg := testenv.StartPostgres(t)
	db, err := pgxpool.New(ctx, pg.DSN)
	require.NoError(t, err)
	t.Cleanup(db.Close)
	require.NoError(t, ledger.Migrate(ctx, db))

	seed, err := secrets.NewHDSeed()
	require.NoError(t, err)
	nodeA, nodeB := testenv.StartLitecoind(t), testenv.StartLitecoind(t)
	nodeA.ConnectTo(t, nodeB)
	a, b := walletClient(nodeA, "shared"), walletClient(nodeB, "shared")
	for name, w := range map[string]*chain.Client{"A": a, "B": b} {
		did, err := w.EnsureSeededWallet(ctx, "shared", seed)
		require.NoError(t, err, "wallet instance %s", name)
		assert.Equal(t, chain.SeedNewWallet, did, "instance %s made its wallet blank and gave it the seed", name)
		again, err := w.EnsureSeededWallet(ctx, "shared", seed)
		require.NoError(t, err)
		assert.Equal(t, chain.SeedKept, again, "instance %s: a second time changes nothing", name)
	}
	var poolAddress, fromB string
	require.NoError(t, a.Call(ctx, "getnewaddress", nil, &poolAddress))
	require.NoError(t, b.Call(ctx, "getnewaddress", nil, &fromB))
	require.Equal(t, poolAddress, fromB, "both instances make the same first address")
	mineB, err := b.OwnsAddress(ctx, poolAddress)
	require.NoError(t, err)
	require.True(t, mineB, "B holds the key of the address A made")
	// A wallet made before the pool had a seed (with one of its own) is
	// given the pool's: it then holds the pool address's key too.
	older := walletClient(nodeB, "older")
	require.NoError(t, older.Call(ctx, "createwallet", []any{"older"}, nil))
	did, err := older.EnsureSeededWallet(ctx, "older", seed)
	require.NoError(t, err)
	assert.Equal(t, chain.SeedReplaced, did)
	mineOlder, err := older.OwnsAddress(ctx, poolAddress)
	require.NoError(t, err)
	assert.True(t, mineOlder, "a wallet given the seed later holds the pool address's key")

	// 130 blocks paying the pool, mined on A: the first 30 are mature.
	hashes, err := a.GenerateToAddress(ctx, 130, poolAddress)
	require.NoError(t, err)
	waitHeight(t, b, 130)

	// A wallet given the seed after its daemon synced those blocks does
	// not see what they paid the pool until it has scanned the chain,
	// which it does once: the mark (a label) makes a second call a no-op.
	late := walletClient(nodeB, "late")
	_, err = late.EnsureSeededWallet(ctx, "late", seed)
	require.NoError(t, err)
	mineLate, err := late.OwnsAddress(ctx, poolAddress)
	require.NoError(t, err)
	require.True(t, mineLate)
	assert.Zero(t, poolHoldings(t, late), "before its scan, the late wallet knows none of the 130 rewards")
	state, err := late.SeedScanned(ctx)
	require.NoError(t, err)
	assert.Equal(t, chain.SeedScan{}, state, "before its scan the wallet is not marked")
	scan, err := late.EnsureScanned(ctx)
	require.NoError(t, err)
	assert.Equal(t, chain.WalletScan{Done: true, From: 0}, scan, "scanned from the genesis block")
	scan, err = late.EnsureScanned(ctx)
	require.NoError(t, err)
	assert.Equal(t, chain.WalletScan{Done: true, From: -1}, scan, "marked: not scanned again")
	state, err = late.SeedScanned(ctx)
	require.NoError(t, err)
	assert.Equal(t, chain.SeedScan{Scanned: true}, state, "read as the payout's login reads it, from the hdseedid")
	assert.Equal(t, poolHoldings(t, b), poolHoldings(t, late), "after its scan it holds what B holds")
	assert.Positive(t, poolHoldings(t, late))
	var labels []string
	require.NoError(t, late.Call(ctx, "listlabels", nil, &labels))
	assert.Contains(t, labels, chain.RescannedLabel)
	miners := walletClient(nodeB, "pool") // the miners' addresses, on B
	credit := newCreditor(t, db, hashes, poolAddress)

	o := testPayOptions()
	// Phase 1: A, cut off from B, pays one miner.
	require.NoError(t, nodeA.Client().Call(ctx, "setnetworkactive", []any{false}, nil))
	first := credit.miners(t, a, miners, 1)
	res, err := Pay(ctx, db, a, o)
	require.NoError(t, err)
	require.Len(t, res.Payouts, 1)
	unheard := res.Payouts[0].TxID
	var t1 walletTx
	err = b.Call(ctx, "gettransaction", []any{unheard}, &t1)
	require.Equal(t, rpcNotInWallet, chain.CodeOf(err), "B has not heard of A's payout: %v", err)

	// Phase 2: A loses power with a payout's transaction built and
	// stored, not broadcast.
	rest := credit.miners(t, a, miners, 4) // two batches of MaxOutputs 3
	var once sync.Once
	var intent string
	o.AtStep = func(step string) {
		if step == "after-build" {
			once.Do(func() {
				require.NoError(t, db.QueryRow(ctx, `SELECT id FROM payouts WHERE status = 'intent'`).Scan(&intent))
				nodeA.Kill()
			})
		}
	}
	_, err = Pay(ctx, db, a, o)
	require.Error(t, err, "the run's broadcast met the dead daemon")
	require.NotEmpty(t, intent)
	assert.Contains(t, err.Error(), intent, "the error names the payout left open")
	t.Logf("A lost power mid-payout: %v", err)

	// Phase 3: a run on B settles and pays everything.
	res, err = Pay(ctx, db, b, testPayOptions())
	require.NoError(t, err, "the run on B")
	assert.Empty(t, res.Waiting)
	assert.Zero(t, res.OwedUnits, "nothing is owed after the run on B")
	require.NotEmpty(t, res.Payouts)
	assert.Equal(t, intent, res.Payouts[0].ID, "the open intent is settled first")
	assert.True(t, res.Payouts[0].Reconciled)
	require.NoError(t, b.Call(ctx, "gettransaction", []any{unheard}, &t1), "B now holds A's unheard payout")

	// On B's chain, once mined, each miner received what the ledger
	// says it was paid, and the pool's sends are the payouts recorded.
	var burn string
	require.NoError(t, miners.Call(ctx, "getnewaddress", nil, &burn))
	_, err = b.GenerateToAddress(ctx, 1, burn)
	require.NoError(t, err)
	require.NoError(t, nodeB.Client().Call(ctx, "syncwithvalidationinterfacequeue", nil, nil))
	for _, m := range append(first, rest...) {
		var paid int64
		require.NoError(t, db.QueryRow(ctx, `SELECT paid FROM balances WHERE address = $1`, m).Scan(&paid))
		var got json.Number
		require.NoError(t, miners.Call(ctx, "getreceivedbyaddress", []any{m, 1}, &got))
		units, err := Units(got, unitsPerCoin)
		require.NoError(t, err)
		assert.Equal(t, paid, units, "miner %s received, confirmed, what the ledger paid it", m)
		assert.Positive(t, paid, "miner %s was paid", m)
	}
	rows, err := db.Query(ctx, `SELECT txid FROM payouts WHERE status = 'sent'`)
	require.NoError(t, err)
	recorded, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	var txs []walletTx
	require.NoError(t, b.Call(ctx, "listtransactions", []any{"*", 100000, 0, true}, &txs))
	seen := map[string]bool{}
	for _, tx := range txs {
		if tx.Category == "send" {
			seen[tx.TxID] = true
			assert.Positive(t, tx.Confirmations, "payout %s confirmed", tx.TxID)
		}
	}
	sends := make([]string, 0, len(seen))
	for txid := range seen {
		sends = append(sends, txid)
	}
	sort.Strings(sends)
	sort.Strings(recorded)
	assert.Equal(t, recorded, sends, "B's sends are the payouts recorded sent, each once")
	assert.Len(t, recorded, 3, "one payout from phase 1, two batches after")
}

// waitHeight waits until the wallet's daemon has height blocks.
func waitHeight(t *testing.T, w *chain.Client, height int64) {
	t.Helper()
	require.Eventually(t, func() bool {
		h, err := w.BlockCount(context.Background())
		return err == nil && h >= height
	}, time.Minute, 50*time.Millisecond, "height %d", height)
}

// creditor records blocks paying the pool as found and credited, block
// by block, to new miners.
type creditor struct {
	db          *pgxpool.Pool
	hashes      []string // by height - 1
	poolAddress string
	next        int
}

func newCreditor(t *testing.T, db *pgxpool.Pool, hashes []string, poolAddress string) *creditor {
	return &creditor{db: db, hashes: hashes, poolAddress: poolAddress, next: 1}
}

// miners makes n miner addresses in minersWallet and credits them a mature
// block, tracked by tracker.
func (c *creditor) miners(t *testing.T, tracker, minersWallet *chain.Client, n int) []string {
	ctx := context.Background()
	height := c.next
	c.next++
	var out []string
	var last int64
	for i := 0; i < n; i++ {
		var m string
		require.NoError(t, minersWallet.Call(ctx, "getnewaddress", nil, &m))
		out = append(out, m)
		require.NoError(t, c.db.QueryRow(ctx, `
			INSERT INTO shares (share_key, coin, address, difficulty, network_difficulty, height, instance, submitted_at)
			VALUES ($1, 'ltc', $2, $3, 1000, $4, 'test', now()) RETURNING id`,
			fmt.Sprintf("%d-%s", height, m), m, float64(i+1), height).Scan(&last))
	}
	_, err := c.db.Exec(ctx, `
		INSERT INTO blocks (coin, height, hash, address, reward, share_id, found_at)
		VALUES ('ltc', $1, $2, $3, 0, $4, now())`, height, c.hashes[height-1], c.poolAddress, last)
	require.NoError(t, err)
	res, err := TrackBlocks(ctx, c.db, tracker, TrackOptions{
		Coin: "ltc", Confirmations: 100, FeePercent: 1, Scheme: Scheme{Name: "pplns", Window: 1000},
		UnitsPerCoin: unitsPerCoin, OrphanDepth: 10,
	})
	require.NoError(t, err)
	require.Equal(t, 1, res.Confirmed, "the block is credited")
	return out
}

// poolHoldings is what the wallet's keys hold, mature or not, in coins.
func poolHoldings(t *testing.T, w *chain.Client) float64 {
	t.Helper()
	var b struct {
		Mine struct {
			Trusted  float64 `json:"trusted"`
			Immature float64 `json:"immature"`
		} `json:"mine"`
	}
	require.NoError(t, w.Call(context.Background(), "getbalances", nil, &b))
	return b.Mine.Trusted + b.Mine.Immature
}
