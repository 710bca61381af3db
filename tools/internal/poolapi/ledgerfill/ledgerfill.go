// Package ledgerfill writes a pool's life into a real PostgreSQL for the
// tests of the pool's API (poolapi) and pages (poolweb), which show the
// same rows: through the project's own writers where they run without a
// wallet, the rest with the statements the jobs run.
package ledgerfill

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/housekeeping"
	"github.com/scryptpool/poolmicrocloud/tools/internal/ledger"
	"github.com/scryptpool/poolmicrocloud/tools/internal/payout"
	"github.com/scryptpool/poolmicrocloud/tools/internal/testenv"
)

// Now is the tests' clock; the fixture's rows are laid out before it.
// Half past midnight, so that the fixture's payouts fall on two days.
var Now = time.Date(2026, 11, 26, 0, 30, 0, 0, time.UTC)

// Mainnet addresses (from chain's tests): two miners, the pool, and one
// that never mined.
const (
	MinerA      = "ltc1qw508d6qejxtdg4y5r3zarvary0c5xw7kgmn4n9"
	MinerB      = "LVuDpNCSSj6pQ7t9Pv6d6sUkLKoqDEVUnJ"
	PoolAddress = "MJaRnao1s62a2zAKSkmG582KbLKianqb7v"
	Stranger    = "ltc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qmu8tk5"
)

// StoredNetDiff is the network difficulty as stratum stores it
// (getdifficulty x 65536).
const StoredNetDiff = 1_000_000.0

// CountingDB counts the statements the API sends to the real database.
type CountingDB struct {
	DB *pgxpool.Pool
	N  atomic.Int64
}

func (c *CountingDB) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	c.N.Add(1)
	return c.DB.Query(ctx, sql, args...)
}

func (c *CountingDB) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	c.N.Add(1)
	return c.DB.QueryRow(ctx, sql, args...)
}

// StartLedger is a real PostgreSQL with the ledger's schema.
func StartLedger(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pg := testenv.StartPostgres(t)
	db, err := ledger.Open(pg.DSN, nil, "", 4)
	require.NoError(t, err)
	t.Cleanup(db.Close)
	require.NoError(t, ledger.Migrate(context.Background(), db))
	return db
}

// Fill writes a pool's life through the project's own writers where
// they can run without a wallet: stratum's ledger writer (shares and
// blocks), the payout's crediting, the stats roll-up. Orphaning, the
// blocks job's confirmations and the payouts themselves (which need a
// wallet) are the same statements those jobs run.
func Fill(t *testing.T, db *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	w := ledger.NewWriter(db, ledger.WriterOptions{})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(runCtx) }()

	type miner struct {
		address string
		workers []string
		diff    float64
	}
	miners := []miner{{MinerA, []string{"rig1", "rig2"}, 16}, {MinerB, []string{"", "gpu"}, 8}}
	// Every 2 minutes for 3 hours; each worker a share of its miner's
	// difficulty, scaled a little by the minute so hours differ.
	start := Now.Add(-3 * time.Hour)
	var keys []string
	for i := 0; i < 90; i++ {
		at := start.Add(time.Duration(i) * 2 * time.Minute)
		for _, m := range miners {
			for wi, worker := range m.workers {
				key := fmt.Sprintf("s-%d-%s-%d", i, m.address[:6], wi)
				require.NoError(t, w.Add(ledger.Share{
					Key: key, Coin: "ltc", Address: m.address, Worker: worker,
					Difficulty: m.diff * float64(1+(i+wi)%3), NetworkDifficulty: StoredNetDiff,
					Height: 2_700_000 + int64(i/30), Instance: "ltc-stratum-0", At: at,
				}))
				keys = append(keys, key)
			}
		}
		// Blocks found at minutes 50, 110 and 150 of the three hours.
		for _, found := range []struct {
			i      int
			hash   string
			height int64
		}{{25, "hash-confirmed", 2_699_990}, {55, "hash-orphaned", 2_699_995}, {75, "hash-pending", 2_700_002}} {
			if found.i == i {
				require.NoError(t, w.AddBlock(ledger.Block{
					Coin: "ltc", Height: found.height, Hash: found.hash, Address: MinerA, Worker: "rig1",
					Reward: 625_000_000, Wallet: "ltc-wallet-0", At: at.Add(time.Second), ShareKey: keys[len(keys)-1],
				}))
			}
		}
	}
	require.NoError(t, w.Flush(ctx))
	stop()
	require.NoError(t, <-done)

	exec := func(sql string, args ...any) {
		t.Helper()
		_, err := db.Exec(ctx, sql, args...)
		require.NoError(t, err, sql)
	}
	var confirmed int64
	require.NoError(t, db.QueryRow(ctx, `SELECT id FROM blocks WHERE hash = 'hash-confirmed'`).Scan(&confirmed))
	tx, err := db.Begin(ctx)
	require.NoError(t, err)
	_, credited, err := payout.CreditBlock(ctx, tx, confirmed, 625_000_000, 1, payout.Scheme{Name: "pplns", Window: 2}, 101)
	require.NoError(t, err)
	require.True(t, credited)
	require.NoError(t, tx.Commit(ctx))
	// CreditBlock stamps the database's clock; the tests' is fixed.
	exec(`UPDATE blocks SET credited_at = found_at + interval '20 minutes' WHERE id = $1`, confirmed)
	// The blocks job's view of the other two.
	exec(`UPDATE blocks SET status = 'orphaned', confirmations = -1 WHERE hash = 'hash-orphaned'`)
	exec(`UPDATE blocks SET confirmations = 37 WHERE hash = 'hash-pending'`)

	// Payouts as payout.Pay records them: the intent, its items, then
	// sent with its txid and the balances moved. One yesterday, one
	// this morning; an open intent and a cancelled one paid nobody.
	var owedA, owedB int64
	require.NoError(t, db.QueryRow(ctx, `SELECT owed FROM balances WHERE coin = 'ltc' AND address = $1`, MinerA).Scan(&owedA))
	require.NoError(t, db.QueryRow(ctx, `SELECT owed FROM balances WHERE coin = 'ltc' AND address = $1`, MinerB).Scan(&owedB))
	pay := func(id, status, txid string, settled time.Time, items map[string]int64) {
		t.Helper()
		var total int64
		for _, u := range items {
			total += u
		}
		exec(`INSERT INTO payouts (id, coin, status, total, created_at) VALUES ($1, 'ltc', 'intent', $2, $3)`, id, total, settled.Add(-time.Minute))
		for a, u := range items {
			exec(`INSERT INTO payout_items (payout_id, address, amount) VALUES ($1, $2, $3)`, id, a, u)
		}
		switch status {
		case "sent":
			exec(`UPDATE payouts SET status = 'sent', txid = $2, settled_at = $3 WHERE id = $1`, id, txid, settled)
			for a, u := range items {
				exec(`UPDATE balances SET owed = owed - $3, paid = paid + $3 WHERE coin = $1 AND address = $2`, "ltc", a, u)
			}
		case "cancelled":
			exec(`UPDATE payouts SET status = 'cancelled', note = 'refused', settled_at = $2 WHERE id = $1`, id, settled)
		}
	}
	pay("p-yesterday", "sent", "aa11", Now.Add(-90*time.Minute), map[string]int64{MinerA: owedA / 4})
	pay("p-cancelled", "cancelled", "", Now.Add(-70*time.Minute), map[string]int64{MinerA: 1000})
	pay("p-today", "sent", "bb22", Now.Add(-10*time.Minute), map[string]int64{MinerA: owedA / 4, MinerB: owedB / 2})
	pay("p-open", "intent", "", Now.Add(-time.Minute), map[string]int64{MinerB: 1000})
	exec(`UPDATE balances SET held_reason = 'below the minimum payment' WHERE coin = 'ltc' AND address = $1`, MinerB)

	// Hours older than the shares, as the roll-up left them before the
	// shares were pruned; then the roll-up of the shares present.
	for d := 2; d <= 6; d++ {
		for hr := 0; hr < 24; hr += 6 {
			hour := Now.Truncate(24 * time.Hour).Add(-time.Duration(d)*24*time.Hour + time.Duration(hr)*time.Hour)
			exec(`INSERT INTO stats_hourly (coin, address, hour, shares, difficulty) VALUES ('ltc', $1, $2, $3, $4)`,
				MinerA, hour, 60+d, float64(2000+100*d))
		}
	}
	o := housekeeping.DefaultStatsOptions([]housekeeping.CoinScheme{{Coin: "ltc", Scheme: payout.Scheme{Name: "pplns", Window: 2}}})
	o.Now = func() time.Time { return Now }
	_, err = housekeeping.Stats(ctx, db, o)
	require.NoError(t, err)
}
