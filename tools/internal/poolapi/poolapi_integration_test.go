package poolapi

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/payout"
)

var update = flag.Bool("update", false, "rewrite the golden files from what the code produces now")

// get asks h for path from loopback (no rate limit) and returns the answer.
func get(t *testing.T, h http.Handler, path string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.RemoteAddr = "127.0.0.1:40000"
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// Every route against a real PostgreSQL holding a pool's life, compared
// with golden answers, and the key figures with what SQL says.
func TestRoutesAgainstTheLedger(t *testing.T) {
	db := startLedger(t)
	fill(t, db)
	h := New(testConfig(), db)

	routes := []struct{ golden, path string }{
		{"health-check", "/api/health-check"},
		{"pools", "/api/pools"},
		{"pool", "/api/pools/ltc"},
		{"pool-performance", "/api/pools/ltc/performance"},
		{"pool-performance-month-daily", "/api/pools/ltc/performance?r=Month&i=Day"},
		{"miners", "/api/pools/ltc/miners"},
		{"miners-page1", "/api/pools/ltc/miners?page=1&pagesize=1"},
		{"blocks", "/api/pools/ltc/blocks"},
		{"blocks-pending-confirmed", "/api/pools/ltc/blocks?state=pending&state=Confirmed"},
		{"blocks-v2", "/api/v2/pools/ltc/blocks?pageSize=2"},
		{"cluster-blocks", "/api/blocks?state=3"},
		{"payments", "/api/pools/ltc/payments"},
		{"payments-v2", "/API/V2/Pools/ltc/Payments?PAGESIZE=2&page=1"},
		{"miner-a", "/api/pools/ltc/miners/" + minerA},
		{"miner-b-hour", "/api/pools/ltc/miners/" + minerB + "?perfMode=Hour"},
		{"miner-a-month", "/api/pools/ltc/miners/" + minerA + "?perfMode=month"},
		{"miner-unknown", "/api/pools/ltc/miners/" + stranger},
		{"miner-a-payments", "/api/pools/ltc/miners/" + minerA + "/payments"},
		{"miner-a-payments-v2", "/api/v2/pools/ltc/miners/" + minerA + "/payments?pageSize=1"},
		{"miner-b-performance", "/api/pools/ltc/miners/" + minerB + "/performance"},
		{"miner-a-balancechanges", "/api/pools/ltc/miners/" + minerA + "/balancechanges"},
		{"miner-b-balancechanges-v2", "/api/v2/pools/ltc/miners/" + minerB + "/balanceChanges?pageSize=1"},
		{"miner-a-earnings-daily", "/api/pools/ltc/miners/" + minerA + "/earnings/daily"},
		{"miner-a-earnings-daily-v2", "/api/v2/pools/ltc/miners/" + minerA + "/Earnings/Daily?pageSize=1"},
		{"miner-a-performance-hour", "/api/pools/ltc/miners/" + strings.ToUpper(minerA) + "/performance?mode=3"},
	}
	for _, r := range routes {
		t.Run(r.golden, func(t *testing.T) {
			rec := get(t, h, r.path)
			require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
			assert.Equal(t, "*", rec.Header().Get("Access-Control-Allow-Origin"))
			golden := filepath.Join("testdata", r.golden+".json")
			if *update {
				require.NoError(t, os.WriteFile(golden, rec.Body.Bytes(), 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "run go test -update to write %s", golden)
			assert.Equal(t, string(want), rec.Body.String())
		})
	}

	t.Run("figures equal the database's", func(t *testing.T) {
		checkFigures(t, h, db)
	})
}

// The newest hours do not wait for the stats job: with the roll-up of
// the last two hours undone, as if the stats job had not run since, the
// pool's chart and its top miners are what they are with it.
func TestNewestHoursComeFromShares(t *testing.T) {
	db := startLedger(t)
	fill(t, db)
	paths := []string{"/api/pools/ltc/performance", "/api/pools/ltc/performance?r=Month&i=Day", "/api/pools/ltc/miners"}
	want := map[string]string{}
	for _, p := range paths {
		want[p] = get(t, New(testConfig(), db), p).Body.String()
	}
	_, err := db.Exec(context.Background(), `DELETE FROM stats_hourly WHERE hour >= $1`, now.Truncate(time.Hour).Add(-time.Hour))
	require.NoError(t, err)
	for _, p := range paths {
		rec := get(t, New(testConfig(), db), p)
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		assert.JSONEq(t, want[p], rec.Body.String(), p)
	}
	// And the newest point is the current hour's rate so far.
	perf := decode[poolPerformanceResponse](t, get(t, New(testConfig(), db), "/api/pools/ltc/performance")).Stats
	require.NotEmpty(t, perf)
	last := perf[len(perf)-1]
	assert.Equal(t, now.Truncate(time.Hour), last.Created)
	var d float64
	require.NoError(t, db.QueryRow(context.Background(), `SELECT sum(difficulty) FROM shares WHERE submitted_at >= $1 AND submitted_at <= $2`,
		now.Truncate(time.Hour), now).Scan(&d))
	assert.InDelta(t, d*65536/now.Sub(now.Truncate(time.Hour)).Seconds(), last.PoolHashrate, 1)
}

func decode[T any](t *testing.T, rec *httptest.ResponseRecorder) T {
	t.Helper()
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	var v T
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &v))
	return v
}

func units(t *testing.T, n json.Number) int64 {
	t.Helper()
	u, err := payout.Units(n, 100_000_000)
	require.NoError(t, err)
	return u
}

func checkFigures(t *testing.T, h http.Handler, db *pgxpool.Pool) {
	ctx := context.Background()
	scalar := func(sql string, args ...any) int64 {
		t.Helper()
		var n int64
		require.NoError(t, db.QueryRow(ctx, sql, args...).Scan(&n), sql)
		return n
	}
	float := func(sql string, args ...any) float64 {
		t.Helper()
		var f float64
		require.NoError(t, db.QueryRow(ctx, sql, args...).Scan(&f), sql)
		return f
	}
	sentItems := `SELECT coalesce(sum(i.amount), 0)::bigint FROM payout_items i JOIN payouts p ON p.id = i.payout_id
		WHERE p.coin = 'ltc' AND p.status = 'sent' AND ($1 = '' OR i.address = $1)`

	pool := decode[poolResponse](t, get(t, h, "/api/pools/ltc")).Pool
	assert.Equal(t, scalar(sentItems, ""), units(t, pool.TotalPaid), "pool's totalPaid = sent payout items")
	assert.Equal(t, scalar(`SELECT count(*) FROM blocks WHERE coin = 'ltc'`), pool.TotalBlocks)
	assert.Equal(t, int64(2), pool.PoolStats.ConnectedMiners, "both miners sent shares in the last 10 minutes")
	assert.Equal(t, int64(4), pool.PoolStats.ConnectedWorkers)
	assert.InDelta(t, float(`SELECT sum(difficulty) * 65536 / 600 FROM shares WHERE submitted_at > $1`, now.Add(-10*time.Minute)),
		float64(pool.PoolStats.PoolHashrate), 1)
	assert.Equal(t, storedNetDiff/65536, pool.NetworkStats.NetworkDifficulty)
	// Top miners by their peak hourly rate: a whole hour's, or the hour
	// up to now, as the shares say.
	require.NotEmpty(t, pool.TopMiners)
	for _, m := range pool.TopMiners {
		peak := float(`
			SELECT max(d) * 65536 / 3600 FROM (
				SELECT sum(difficulty) AS d FROM shares WHERE address = $1 AND submitted_at >= $2 AND submitted_at < $3
				GROUP BY date_trunc('hour', submitted_at, 'UTC')
				UNION ALL
				SELECT sum(difficulty) FROM shares WHERE address = $1 AND submitted_at > $4 AND submitted_at <= $5) p`,
			m.Miner, now.Add(-24*time.Hour), now.Truncate(time.Hour), now.Add(-time.Hour), now)
		assert.InDelta(t, peak, m.Hashrate, 1e-6*peak, "%s's hashrate in topMiners", m.Miner)
	}

	for _, status := range []string{"pending", "confirmed", "orphaned"} {
		blocks := decode[[]Block](t, get(t, h, "/api/pools/ltc/blocks?state="+status))
		assert.Len(t, blocks, int(scalar(`SELECT count(*) FROM blocks WHERE coin = 'ltc' AND status = $1`, status)), status)
		for _, b := range blocks {
			assert.Equal(t, status, b.Status)
		}
	}

	payments := decode[pagedResult](t, get(t, h, "/api/v2/pools/ltc/payments?pageSize=1"))
	assert.Equal(t, scalar(`SELECT count(*) FROM payout_items i JOIN payouts p ON p.id = i.payout_id WHERE p.status = 'sent'`), payments.PageCount)

	for _, address := range []string{minerA, minerB, stranger} {
		m := decode[MinerStats](t, get(t, h, "/api/pools/ltc/miners/"+address))
		assert.Equal(t, scalar(`SELECT coalesce((SELECT owed FROM balances WHERE coin = 'ltc' AND address = $1), 0)`, address),
			units(t, m.PendingBalance), "%s pendingBalance = balances.owed", address)
		assert.Equal(t, scalar(sentItems, address), units(t, m.TotalPaid), "%s totalPaid = sent payout items", address)
		assert.Equal(t, scalar(sentItems+` AND p.settled_at >= $2`, address, now.Truncate(24*time.Hour)), units(t, m.TodayPaid), "%s todayPaid", address)
		assert.Equal(t, float(`SELECT coalesce(sum(difficulty), 0) FROM shares WHERE address = $1 AND id >
			(SELECT max(share_id) FROM blocks WHERE status <> 'orphaned')`, address), m.PendingShares, "%s pendingShares", address)
	}
	// Balance changes add up to what is owed: credits less payments.
	for _, address := range []string{minerA, minerB} {
		changes := decode[[]balanceChange](t, get(t, h, "/api/pools/ltc/miners/"+address+"/balancechanges?pageSize=100"))
		var sum int64
		for _, c := range changes {
			sum += units(t, c.Amount)
		}
		assert.Equal(t, scalar(`SELECT owed FROM balances WHERE coin = 'ltc' AND address = $1`, address), sum, "%s balance changes sum to owed", address)
	}
	assert.NotZero(t, scalar(sentItems, minerA), "the fixture paid miner A")
	assert.NotZero(t, scalar(`SELECT owed FROM balances WHERE address = $1`, minerA), "and still owes it")
}

// A second identical request is served from the cache; after the TTL
// the database is asked again, in the background while the old answer
// is served. Concurrent misses are one computation.
func TestCacheSparesTheDatabase(t *testing.T) {
	db := startLedger(t)
	fill(t, db)
	counter := &countingDB{DB: db}
	// The background computation reads the clock too.
	var mu sync.Mutex
	clock := now
	advance := func(d time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		clock = clock.Add(d)
	}
	cfg := testConfig()
	cfg.CacheTTL = 15 * time.Second
	cfg.Now = func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return clock
	}
	h := New(cfg, counter)

	path := "/api/pools/ltc/miners/" + minerA
	first := get(t, h, path)
	require.Equal(t, http.StatusOK, first.Code)
	perRequest := counter.N.Load()
	require.Positive(t, perRequest)

	// The same answer however the query's keys and the address are spelt.
	again := get(t, h, "/API/pools/ltc/miners/"+strings.ToUpper(minerA)+"?PERFMODE=day")
	assert.Equal(t, first.Body.String(), again.Body.String())
	assert.Equal(t, perRequest, counter.N.Load(), "served from the cache")

	advance(14 * time.Second)
	get(t, h, path)
	assert.Equal(t, perRequest, counter.N.Load(), "still fresh")

	// Past the TTL the old answer is served once more while one
	// computation of the new runs in the background.
	advance(time.Second)
	stale := get(t, h, path)
	assert.Equal(t, first.Body.String(), stale.Body.String(), "the old answer, while the new is computed")
	require.Eventually(t, func() bool { return counter.N.Load() == 2*perRequest }, 10*time.Second, 10*time.Millisecond, "expired after the TTL: computed again")
	get(t, h, path)
	assert.Equal(t, 2*perRequest, counter.N.Load(), "the new answer, fresh")

	// A different answer is a different entry.
	get(t, h, path+"?perfMode=Hour")
	assert.Equal(t, 3*perRequest, counter.N.Load())

	// Concurrent misses of one key: one computation between them.
	advance(time.Minute)
	before := counter.N.Load()
	done := make(chan int, 8)
	for range 8 {
		go func() { done <- get(t, h, path).Code }()
	}
	for range 8 {
		assert.Equal(t, http.StatusOK, <-done)
	}
	assert.Equal(t, before+perRequest, counter.N.Load(), "eight concurrent misses, one round of queries")
}

// A negative TTL keeps nothing: every request asks the database, and
// tells browsers not to keep the answer either. The benchmark's
// uncached figures are measured so.
func TestNoCacheAsksEveryTime(t *testing.T) {
	db := startLedger(t)
	fill(t, db)
	counter := &countingDB{DB: db}
	cfg := testConfig()
	cfg.CacheTTL = -1
	h := New(cfg, counter)

	path := "/api/pools/ltc/miners/" + minerA
	first := get(t, h, path)
	require.Equal(t, http.StatusOK, first.Code)
	assert.Equal(t, "no-store", first.Header().Get("Cache-Control"))
	perRequest := counter.N.Load()
	require.Positive(t, perRequest)
	again := get(t, h, path)
	assert.Equal(t, first.Body.String(), again.Body.String())
	assert.Equal(t, 2*perRequest, counter.N.Load(), "asked again")
}

// effortQueries counts the statements that sum a block's round.
type effortQueries struct {
	*pgxpool.Pool
	n atomic.Int64
}

func (e *effortQueries) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if sql == sqlBlockEfforts {
		e.n.Add(1)
	}
	return e.Pool.Query(ctx, sql, args...)
}

// A block's effort (a sum over its round's shares) is computed once its
// round is settled, then kept: another page of blocks, or the same one
// after the cache's time, does not sum it again. A block found minutes
// ago is summed each time.
func TestBlockEffortIsKept(t *testing.T) {
	db := startLedger(t)
	fill(t, db)
	q := &effortQueries{Pool: db}
	h := New(testConfig(), q)
	first := decode[[]Block](t, get(t, h, "/api/pools/ltc/blocks"))
	require.Len(t, first, 3)
	assert.Equal(t, int64(1), q.n.Load())
	again := decode[[]Block](t, get(t, h, "/api/pools/ltc/blocks?pageSize=2"))
	assert.Equal(t, first[:2], again)
	assert.Equal(t, int64(1), q.n.Load(), "settled blocks' efforts are kept")

	var share int64
	require.NoError(t, db.QueryRow(context.Background(), `SELECT max(id) FROM shares`).Scan(&share))
	_, err := db.Exec(context.Background(), `INSERT INTO blocks (coin, height, hash, address, reward, share_id, found_at)
		VALUES ('ltc', 2700003, 'hash-new', $1, 625000000, $2, $3)`, minerA, share, now.Add(-time.Minute))
	require.NoError(t, err)
	for i, size := range []int{10, 20} {
		blocks := decode[[]Block](t, get(t, h, fmt.Sprintf("/api/pools/ltc/blocks?pageSize=%d", size)))
		require.Len(t, blocks, 4)
		require.Equal(t, "hash-new", *blocks[0].Hash)
		require.NotNil(t, blocks[0].Effort)
		assert.Positive(t, *blocks[0].Effort)
		assert.Equal(t, first, blocks[1:], "the older blocks as before")
		assert.Equal(t, int64(2+i), q.n.Load(), "a block a minute old is summed each time")
	}
}
