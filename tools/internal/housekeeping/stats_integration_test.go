package housekeeping

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/ledger"
	"github.com/scryptpool/poolmicrocloud/tools/internal/payout"
	"github.com/scryptpool/poolmicrocloud/tools/internal/testenv"
)

// now is the tests' clock: shares are laid out in the hours before it.
var now = time.Date(2026, 11, 25, 12, 30, 0, 0, time.UTC)

func openLedger(t *testing.T) *pgxpool.Pool {
	t.Helper()
	_, db := startLedger(t)
	return db
}

// startLedger is a real PostgreSQL with the ledger's schema.
func startLedger(t *testing.T) (*testenv.Postgres, *pgxpool.Pool) {
	t.Helper()
	pg := testenv.StartPostgres(t)
	db, err := ledger.Open(pg.DSN, nil, "", 4)
	require.NoError(t, err)
	t.Cleanup(db.Close)
	require.NoError(t, ledger.Migrate(context.Background(), db))
	return pg, db
}

// share inserts one share and returns its id.
func share(t *testing.T, db *pgxpool.Pool, coin, address string, difficulty, netDiff float64, at time.Time) int64 {
	t.Helper()
	var id int64
	err := db.QueryRow(context.Background(), `
		INSERT INTO shares (share_key, coin, address, difficulty, network_difficulty, height, instance, submitted_at)
		VALUES (md5(random()::text), $1, $2, $3, $4, 1, 'test', $5) RETURNING id`, coin, address, difficulty, netDiff, at).Scan(&id)
	require.NoError(t, err)
	return id
}

func block(t *testing.T, db *pgxpool.Pool, coin string, height, shareID int64, status string) int64 {
	t.Helper()
	var id int64
	err := db.QueryRow(context.Background(), `
		INSERT INTO blocks (coin, height, hash, address, reward, status, share_id, found_at)
		VALUES ($1, $2, md5(random()::text), 'pool', 5000000000, $3, $4, now()) RETURNING id`, coin, height, status, shareID).Scan(&id)
	require.NoError(t, err)
	return id
}

// hourly is stats_hourly as address/hour -> shares, difficulty.
func hourly(t *testing.T, db *pgxpool.Pool, coin string) map[string][2]float64 {
	t.Helper()
	rows, err := db.Query(context.Background(), `SELECT address, hour, shares, difficulty FROM stats_hourly WHERE coin = $1`, coin)
	require.NoError(t, err)
	out := map[string][2]float64{}
	for rows.Next() {
		var addr string
		var hour time.Time
		var n int64
		var d float64
		require.NoError(t, rows.Scan(&addr, &hour, &n, &d))
		out[addr+"@"+hour.UTC().Format("15")] = [2]float64{float64(n), d}
	}
	require.NoError(t, rows.Err())
	return out
}

func testOptions(coins ...CoinScheme) StatsOptions {
	o := DefaultStatsOptions(coins)
	o.Now = func() time.Time { return now }
	o.BatchRows = 7 // several batches even for the tests' few shares
	return o
}

// Every share is counted once in its miner's hour, however many runs,
// and a share that reaches the database late still counts while its hour
// is being recounted.
func TestStatsCountEachShareOnce(t *testing.T) {
	db := openLedger(t)
	want := map[string][2]float64{}
	add := func(addr string, diff float64, at time.Time) {
		share(t, db, "ltc", addr, diff, 1e9, at) // a window no test share fills: nothing pruned
		k := addr + "@" + at.UTC().Format("15")
		want[k] = [2]float64{want[k][0] + 1, want[k][1] + diff}
	}
	for h := 5; h >= 0; h-- {
		for i := 0; i < 4; i++ {
			add(fmt.Sprintf("miner%d", i%2), float64(1+i), now.Add(-time.Duration(h)*time.Hour-time.Duration(i)*time.Minute))
		}
	}
	o := testOptions(CoinScheme{"ltc", payout.Scheme{Name: "pplns", Window: 2}})
	for run := 0; run < 2; run++ {
		res, err := Stats(context.Background(), db, o)
		require.NoError(t, err)
		require.Len(t, res, 1)
		assert.Equal(t, want, hourly(t, db, "ltc"), "run %d", run)
	}
	// A share of an hour still being recounted, arriving late.
	add("miner1", 9, now.Add(-time.Hour))
	_, err := Stats(context.Background(), db, o)
	require.NoError(t, err)
	assert.Equal(t, want, hourly(t, db, "ltc"))

	var until time.Time
	require.NoError(t, db.QueryRow(context.Background(), `SELECT counted_until FROM stats_rollup WHERE coin = 'ltc'`).Scan(&until))
	assert.Equal(t, now.Add(-2*time.Hour).Truncate(time.Hour), until.UTC(), "hours older than --recount are final")
}

// Pruning removes old shares but never one a payout may still read: a
// pending block is credited exactly as it would have been before the
// pruning, and so is the next block.
func TestPruneKeepsEveryWindowAPayoutMayRead(t *testing.T) {
	for _, scheme := range []payout.Scheme{{Name: "pplns", Window: 2}, {Name: "proportional"}} {
		t.Run(scheme.Name, func(t *testing.T) {
			db := openLedger(t)
			ctx := context.Background()
			const netDiff = 10.0
			old := now.Add(-72 * time.Hour)
			// Three days ago: 60 shares of difficulty 1, and a block that
			// was credited long ago.
			var last int64
			for i := 0; i < 60; i++ {
				last = share(t, db, "ltc", fmt.Sprintf("old%d", i%3), 1, netDiff, old.Add(time.Duration(i)*time.Minute))
			}
			block(t, db, "ltc", 100, last-30, "confirmed")
			// Then a pending block at share 50 and 40 more shares.
			pending := block(t, db, "ltc", 101, last-10, "pending")
			for i := 0; i < 40; i++ {
				last = share(t, db, "ltc", fmt.Sprintf("new%d", i%4), 1, netDiff, old.Add(time.Duration(60+i)*time.Minute))
			}
			// A share past the last that will be the next block's.
			next := share(t, db, "ltc", "next", 1, netDiff, old.Add(100*time.Minute))

			credit := func(blockID int64) payout.Split {
				// Credited and rolled back: look, do not touch.
				tx, err := db.Begin(ctx)
				require.NoError(t, err)
				defer func() { _ = tx.Rollback(ctx) }()
				split, credited, err := payout.CreditBlock(ctx, tx, blockID, 5_000_000_000, 1, scheme, 100)
				require.NoError(t, err)
				require.True(t, credited)
				return split
			}
			nextBlock := block(t, db, "ltc", 102, next, "orphaned") // credited below as if pending
			_, err := db.Exec(ctx, `UPDATE blocks SET status = 'pending' WHERE id = $1`, nextBlock)
			require.NoError(t, err)
			beforePending, beforeNext := credit(pending), credit(nextBlock)
			_, err = db.Exec(ctx, `UPDATE blocks SET status = 'orphaned' WHERE id = $1`, nextBlock)
			require.NoError(t, err)

			var total int64
			require.NoError(t, db.QueryRow(ctx, `SELECT count(*) FROM shares`).Scan(&total))
			res, err := Stats(ctx, db, testOptions(CoinScheme{"ltc", scheme}))
			require.NoError(t, err)
			require.Len(t, res, 1)
			assert.Positive(t, res[0].Pruned, "old shares outside every window are pruned")
			assert.Less(t, res[0].Pruned, total)
			t.Logf("pruned %d of %d shares, kept from %d: %s", res[0].Pruned, total, res[0].KeptFrom, res[0].KeptWhy)
			var left int64
			require.NoError(t, db.QueryRow(ctx, `SELECT count(*) FROM shares`).Scan(&left))
			assert.Equal(t, total-res[0].Pruned, left)

			_, err = db.Exec(ctx, `UPDATE blocks SET status = 'pending' WHERE id = $1`, nextBlock)
			require.NoError(t, err)
			assert.Equal(t, beforePending, credit(pending), "the pending block's split is unchanged by pruning")
			assert.Equal(t, beforeNext, credit(nextBlock), "the next block's split is unchanged by pruning")

			// The pruned shares are still in the statistics.
			var counted float64
			require.NoError(t, db.QueryRow(ctx, `SELECT sum(shares) FROM stats_hourly WHERE coin = 'ltc'`).Scan(&counted))
			assert.Equal(t, float64(total), counted)
		})
	}
}

// Young shares are never pruned, whatever the windows.
func TestPruneSparesYoungShares(t *testing.T) {
	db := openLedger(t)
	for i := 0; i < 50; i++ {
		share(t, db, "ltc", "m", 1, 1, now.Add(-time.Duration(50-i)*time.Minute))
	}
	res, err := Stats(context.Background(), db, testOptions(CoinScheme{"ltc", payout.Scheme{Name: "pplns", Window: 2}}))
	require.NoError(t, err)
	assert.Zero(t, res[0].Pruned)
	assert.Greater(t, res[0].KeptFrom, int64(1), "the window alone would have allowed pruning")
}

// A pending block whose share is not in the table (its window cannot be
// found): nothing is pruned rather than a guess.
func TestPruneKeepsAllWhenAPendingBlockLacksItsShare(t *testing.T) {
	db := openLedger(t)
	for i := 0; i < 50; i++ {
		share(t, db, "ltc", "m", 1, 1, now.Add(-72*time.Hour+time.Duration(i)*time.Minute))
	}
	block(t, db, "ltc", 7, 999_999, "pending")
	res, err := Stats(context.Background(), db, testOptions(CoinScheme{"ltc", payout.Scheme{Name: "pplns", Window: 2}}))
	require.NoError(t, err)
	assert.Zero(t, res[0].Pruned)
	assert.Contains(t, res[0].KeptWhy, "pending block 7's share is missing")
}
