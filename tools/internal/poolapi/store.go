package poolapi

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scryptpool/poolmicrocloud/tools/internal/payout"
)

// Querier is what the API needs of the database: a *pgxpool.Pool, or a
// wrapper around one. The API only reads; it runs under a read-only
// login and never migrates.
type Querier = payout.Querier

// hashesPerDifficulty is how many scrypt hashes a share of stratum
// difficulty 1 stands for on average, as stratum's metrics count them
// (stratum/metrics.go); a hashrate is sum(difficulty) x this / seconds.
const hashesPerDifficulty = 65536.0

// The network_difficulty the pool stores is in stratum units (scrypt
// diff 1 = 0xffff<<224): Litecoin's getdifficulty x 65536. MiningCore's
// networkDifficulty is getdifficulty.
const storedPerNetworkDifficulty = 65536.0

// binOrigin aligns every date_bin bucket on UTC whatever the session's
// time zone.
const binOrigin = `timestamptz '2000-01-01 00:00:00+00'`

// All SQL is constant text; everything a client sends arrives as a
// bound parameter.
const (
	sqlPoolStats = `
SELECT count(DISTINCT address), count(DISTINCT (address, worker)), coalesce(sum(difficulty), 0), count(*)
FROM shares WHERE coin = $1 AND submitted_at > $2 AND submitted_at <= $3`

	sqlNetwork = `SELECT height, network_difficulty FROM shares WHERE coin = $1 ORDER BY id DESC LIMIT 1`

	sqlPoolTotals = `
SELECT
	(SELECT coalesce(sum(paid), 0) FROM balances WHERE coin = $1)::bigint,
	(SELECT count(*) FROM blocks WHERE coin = $1),
	(SELECT max(found_at) FROM blocks WHERE coin = $1),
	(SELECT coalesce(sum(difficulty / NULLIF(network_difficulty, 0)), 0) FROM shares
	 WHERE coin = $1 AND id > coalesce((SELECT max(share_id) FROM blocks WHERE coin = $1), 0))`

	// Each miner's peak sample in the range, as MiningCore ranks miners
	// by their highest: the hours rolled up in stats_hourly, the last
	// whole hour from shares (stats_hourly's newest hours are only as
	// new as the stats job's last run), and the hour up to now. Rates are
	// per second; $4 is fromShares(now). At most two hours of shares are
	// read, not the day's (1.6 s over a 200-miner pool's 2.8 M, on this
	// machine).
	sqlTopMiners = `
WITH s AS (
	SELECT address, difficulty / 3600 AS rate, shares::float8 / 3600 AS sps
	FROM stats_hourly WHERE coin = $1 AND hour >= $2 AND hour < $4
	UNION ALL
	SELECT address, sum(difficulty) / 3600, count(*)::float8 / 3600
	FROM shares WHERE coin = $1 AND submitted_at >= greatest($4, $2) AND submitted_at < $4::timestamptz + interval '1 hour' GROUP BY address
	UNION ALL
	SELECT address, sum(difficulty) / 3600, count(*)::float8 / 3600
	FROM shares WHERE coin = $1 AND submitted_at > $3::timestamptz - interval '1 hour' AND submitted_at <= $3 GROUP BY address)
SELECT address, max(rate), (array_agg(sps ORDER BY rate DESC))[1] FROM s
GROUP BY address ORDER BY max(rate) DESC, address OFFSET $5 LIMIT $6`

	// The pool's hours: from stats_hourly before $5 (fromShares(now)),
	// from shares after it, so that the newest points do not wait for the
	// stats job's next run.
	sqlPoolHourly = `
WITH h AS (
	SELECT address, hour, shares, difficulty FROM stats_hourly WHERE coin = $1 AND hour >= $2 AND hour < $5
	UNION ALL
	SELECT address, date_trunc('hour', submitted_at, 'UTC'), count(*), sum(difficulty)
	FROM shares WHERE coin = $1 AND submitted_at >= greatest($5, $2) AND submitted_at <= $3 GROUP BY 1, 2)
SELECT date_bin(make_interval(secs => $4), hour, ` + binOrigin + `) AS t,
	sum(difficulty), sum(shares)::bigint, count(DISTINCT address)
FROM h GROUP BY t ORDER BY t`

	// The network difficulty of each bin is that of its last share: one
	// index lookup a bin, not a scan of the range's shares.
	sqlNetworkDifficultyBins = `
SELECT t, d FROM generate_series($2::timestamptz, $3::timestamptz, make_interval(secs => $4)) AS t,
LATERAL (SELECT network_difficulty AS d FROM shares
	WHERE coin = $1 AND submitted_at >= t AND submitted_at < t + make_interval(secs => $4)
	ORDER BY submitted_at DESC LIMIT 1) AS last`

	// A block's effort is its round's shares over the network
	// difficulty, the round being the shares after the previous block's
	// (whatever its status, as MiningCore counts): a sum over the round's
	// shares, 60 ms a block over a day of a 200-miner pool's, so each is
	// kept once its round is settled (efforts). Unknown (NULL) once
	// pruning took the finding share or the round's first shares: the
	// round is whole while the previous block's finding share (or one
	// before it) is kept, as pruning takes the oldest first. Share ids are
	// one sequence for every coin, with gaps, so a coin's first block is
	// whole only if its coin's first share is the table's first id. A
	// share of no network difficulty counts for nothing.
	sqlBlocks = `
SELECT b.id, b.coin, b.height, b.status, b.confirmations, b.reward, b.hash, b.address, b.found_at, s.network_difficulty
FROM blocks b
LEFT JOIN shares s ON s.id = b.share_id
WHERE b.coin = ANY($1) AND b.status = ANY($2)
ORDER BY b.found_at DESC, b.id DESC OFFSET $3 LIMIT $4`

	sqlBlockEfforts = `
SELECT b.id,
	CASE WHEN s.id IS NULL OR CASE WHEN prev.share_id IS NULL
		THEN (SELECT min(o.id) FROM shares o WHERE o.coin = b.coin) > 1
		ELSE NOT EXISTS (SELECT FROM shares o WHERE o.coin = b.coin AND o.id <= prev.share_id) END THEN NULL
	ELSE (SELECT sum(x.difficulty / NULLIF(x.network_difficulty, 0)) FROM shares x
	      WHERE x.coin = b.coin AND x.id <= b.share_id AND x.id > coalesce(prev.share_id, 0)) END
FROM blocks b
LEFT JOIN shares s ON s.id = b.share_id
LEFT JOIN LATERAL (SELECT max(p.share_id) AS share_id FROM blocks p WHERE p.coin = b.coin AND p.share_id < b.share_id) prev ON true
WHERE b.id = ANY($1)`

	sqlBlockCount = `SELECT count(*) FROM blocks WHERE coin = ANY($1) AND status = ANY($2)`

	// Payments are the items of sent payouts; an intent or a cancelled
	// payout paid nobody. $2 = '' means every address.
	sqlPayments = `
SELECT i.address, i.amount, coalesce(p.txid, ''), p.settled_at
FROM payout_items i JOIN payouts p ON p.id = i.payout_id
WHERE p.coin = $1 AND p.status = 'sent' AND ($2 = '' OR i.address = $2)
ORDER BY p.settled_at DESC, p.id, i.address OFFSET $3 LIMIT $4`

	sqlPaymentCount = `
SELECT count(*) FROM payout_items i JOIN payouts p ON p.id = i.payout_id
WHERE p.coin = $1 AND p.status = 'sent' AND ($2 = '' OR i.address = $2)`

	// pendingShares is the current round as the proportional split reads
	// it: the miner's shares since the last block that was not orphaned.
	sqlMinerTotals = `
SELECT
	(SELECT coalesce(sum(difficulty), 0) FROM shares WHERE coin = $1 AND address = $2
	 AND id > coalesce((SELECT max(share_id) FROM blocks WHERE coin = $1 AND status <> 'orphaned'), 0)),
	coalesce((SELECT owed FROM balances WHERE coin = $1 AND address = $2), 0),
	coalesce((SELECT paid FROM balances WHERE coin = $1 AND address = $2), 0),
	coalesce((SELECT held_reason FROM balances WHERE coin = $1 AND address = $2), ''),
	(SELECT coalesce(sum(i.amount), 0) FROM payout_items i JOIN payouts p ON p.id = i.payout_id
	 WHERE p.coin = $1 AND i.address = $2 AND p.status = 'sent' AND p.settled_at >= $3)::bigint`

	sqlLastPayment = `
SELECT p.settled_at, coalesce(p.txid, '') FROM payout_items i JOIN payouts p ON p.id = i.payout_id
WHERE p.coin = $1 AND i.address = $2 AND p.status = 'sent' ORDER BY p.settled_at DESC, p.id LIMIT 1`

	sqlWorkerBins = `
SELECT date_bin(make_interval(secs => $5), submitted_at, ` + binOrigin + `) AS t, worker, sum(difficulty), count(*)
FROM shares WHERE coin = $1 AND address = $2 AND submitted_at >= $3 AND submitted_at <= $4
GROUP BY t, worker ORDER BY t, worker`

	sqlWorkersNow = `
SELECT worker, sum(difficulty), count(*)
FROM shares WHERE coin = $1 AND address = $2 AND submitted_at > $3 AND submitted_at <= $4
GROUP BY worker ORDER BY worker`

	// stats_hourly has no worker: its samples are the address's, under
	// MiningCore's key for the unnamed worker.
	sqlAddressBins = `
SELECT date_bin(make_interval(secs => $5), hour, ` + binOrigin + `) AS t, '', sum(difficulty), sum(shares)::bigint
FROM stats_hourly WHERE coin = $1 AND address = $2 AND hour >= $3 AND hour <= $4
GROUP BY t ORDER BY t`
)

// An address the pool has seen: stratum records the workers of every
// share; a balance outlives them.
const sqlMinerKnown = `
SELECT EXISTS (SELECT 1 FROM workers WHERE coin = $1 AND address = $2)
	OR EXISTS (SELECT 1 FROM balances WHERE coin = $1 AND address = $2)`

const sqlWorkersSeen = `
SELECT worker, first_seen, last_seen FROM workers WHERE coin = $1 AND address = $2
ORDER BY last_seen DESC, worker LIMIT $3`

// A miner's balance moves up when a block is credited (credits, at the
// block's credited_at) and down when a payout is sent (its items).
const sqlBalanceChanges = `
SELECT amount, usage, created FROM (
	SELECT c.amount AS amount, 'Block reward' AS usage, coalesce(b.credited_at, b.found_at) AS created, '' AS payout_id
	FROM credits c JOIN blocks b ON b.id = c.block_id WHERE c.coin = $1 AND c.address = $2
	UNION ALL
	SELECT -i.amount, 'Payout', p.settled_at, p.id
	FROM payout_items i JOIN payouts p ON p.id = i.payout_id WHERE p.coin = $1 AND i.address = $2 AND p.status = 'sent'
) x ORDER BY created DESC, payout_id OFFSET $3 LIMIT $4`

const sqlBalanceChangeCount = `
SELECT (SELECT count(*) FROM credits WHERE coin = $1 AND address = $2) +
	(SELECT count(*) FROM payout_items i JOIN payouts p ON p.id = i.payout_id WHERE p.coin = $1 AND i.address = $2 AND p.status = 'sent')`

// Daily earnings are what was paid each UTC day.
const sqlDailyEarnings = `
SELECT date_bin('1 day', p.settled_at, ` + binOrigin + `) AS day, sum(i.amount)::bigint
FROM payout_items i JOIN payouts p ON p.id = i.payout_id
WHERE p.coin = $1 AND i.address = $2 AND p.status = 'sent'
GROUP BY day ORDER BY day DESC OFFSET $3 LIMIT $4`

const sqlDailyEarningCount = `
SELECT count(DISTINCT date_bin('1 day', p.settled_at, ` + binOrigin + `))
FROM payout_items i JOIN payouts p ON p.id = i.payout_id
WHERE p.coin = $1 AND i.address = $2 AND p.status = 'sent'`

func (h *Handler) balanceChanges(ctx context.Context, c *Coin, address string, offset, limit int64) ([]balanceChange, error) {
	rows, err := h.db.Query(ctx, sqlBalanceChanges, c.ID, address, offset, limit)
	if err != nil {
		return nil, fmt.Errorf("pool %s balance changes: %w", c.ID, err)
	}
	out := []balanceChange{}
	for rows.Next() {
		ch := balanceChange{PoolID: c.ID, Address: address}
		var units int64
		var created *time.Time
		if err := rows.Scan(&units, &ch.Usage, &created); err != nil {
			return nil, fmt.Errorf("pool %s balance changes: %w", c.ID, err)
		}
		ch.Amount = payout.Coins(units, c.UnitsPerCoin)
		if created != nil {
			ch.Created = created.UTC()
		}
		out = append(out, ch)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pool %s balance changes: %w", c.ID, err)
	}
	return out, nil
}

func (h *Handler) dailyEarnings(ctx context.Context, c *Coin, address string, offset, limit int64) ([]dailyEarning, error) {
	rows, err := h.db.Query(ctx, sqlDailyEarnings, c.ID, address, offset, limit)
	if err != nil {
		return nil, fmt.Errorf("pool %s daily earnings: %w", c.ID, err)
	}
	out := []dailyEarning{}
	for rows.Next() {
		var e dailyEarning
		var units int64
		if err := rows.Scan(&e.Date, &units); err != nil {
			return nil, fmt.Errorf("pool %s daily earnings: %w", c.ID, err)
		}
		e.Date = e.Date.UTC()
		e.Amount = payout.Coins(units, c.UnitsPerCoin)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pool %s daily earnings: %w", c.ID, err)
	}
	return out, nil
}

func (h *Handler) count(ctx context.Context, sql string, args ...any) (int64, error) {
	var n int64
	if err := h.db.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count: %w", err)
	}
	return n, nil
}

// shareWindow is how far back the current hashrate looks, as
// MiningCore's StatsRecorder.
const shareWindow = 10 * time.Minute

func (h *Handler) poolInfo(ctx context.Context, c *Coin, topMinersRange time.Duration, now time.Time) (PoolInfo, error) {
	info := h.staticPoolInfo(c)
	var sumDiff float64
	var shares int64
	if err := h.db.QueryRow(ctx, sqlPoolStats, c.ID, now.Add(-shareWindow), now).Scan(
		&info.PoolStats.ConnectedMiners, &info.PoolStats.ConnectedWorkers, &sumDiff, &shares); err != nil {
		return PoolInfo{}, fmt.Errorf("pool %s stats: %w", c.ID, err)
	}
	info.PoolStats.PoolHashrate = uint64(sumDiff * hashesPerDifficulty / shareWindow.Seconds())
	info.PoolStats.SharesPerSecond = int64(float64(shares) / shareWindow.Seconds())

	var height int64
	var netDiff float64
	switch err := h.db.QueryRow(ctx, sqlNetwork, c.ID).Scan(&height, &netDiff); err {
	case nil:
		info.NetworkStats.BlockHeight = uint64(max(height, 0))
		info.NetworkStats.NetworkDifficulty = netDiff / storedPerNetworkDifficulty
		info.NetworkStats.NetworkHashrate = networkHashrate(netDiff, c.BlockTime)
	case pgx.ErrNoRows:
	default:
		return PoolInfo{}, fmt.Errorf("pool %s network: %w", c.ID, err)
	}

	var paid int64
	var lastBlock *time.Time
	if err := h.db.QueryRow(ctx, sqlPoolTotals, c.ID).Scan(&paid, &info.TotalBlocks, &lastBlock, &info.PoolEffort); err != nil {
		return PoolInfo{}, fmt.Errorf("pool %s totals: %w", c.ID, err)
	}
	info.TotalPaid = payout.Coins(paid, c.UnitsPerCoin)
	info.LastPoolBlockTime = utc(lastBlock)

	top, err := h.topMiners(ctx, c, topMinersRange, 0, topMinersCount, now)
	if err != nil {
		return PoolInfo{}, err
	}
	info.TopMiners = top
	return info, nil
}

// networkHashrate is getdifficulty x 2^32 / block time, from the stored
// difficulty (getdifficulty x 65536).
func networkHashrate(storedDifficulty float64, blockTime time.Duration) float64 {
	return storedDifficulty * hashesPerDifficulty / blockTime.Seconds()
}

// fromShares is where the pool's figures stop reading stats_hourly and
// read the shares: the start of the hour before now's, since
// stats_hourly's newest hours are only as new as the stats job's last
// run.
func fromShares(now time.Time) time.Time { return now.Truncate(time.Hour).Add(-time.Hour) }

// topMinersCount is how many miners PoolInfo.topMiners lists, as MiningCore.
const topMinersCount = 15

func (h *Handler) topMiners(ctx context.Context, c *Coin, rng time.Duration, offset, limit int64, now time.Time) ([]MinerPerformanceStats, error) {
	rows, err := h.db.Query(ctx, sqlTopMiners, c.ID, now.Add(-rng), now, fromShares(now), offset, limit)
	if err != nil {
		return nil, fmt.Errorf("pool %s miners: %w", c.ID, err)
	}
	out := []MinerPerformanceStats{}
	for rows.Next() {
		var m MinerPerformanceStats
		var rate float64
		if err := rows.Scan(&m.Miner, &rate, &m.SharesPerSecond); err != nil {
			return nil, fmt.Errorf("pool %s miners: %w", c.ID, err)
		}
		m.Hashrate = rate * hashesPerDifficulty
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pool %s miners: %w", c.ID, err)
	}
	return out, nil
}

// binSeconds is how much time a bucket starting at t covers up to now:
// the newest bucket is still filling, and its rate is over the part
// that has passed.
func binSeconds(t, now time.Time, bin time.Duration) float64 {
	s := min(now.Sub(t), bin).Seconds()
	return max(s, 1)
}

func (h *Handler) poolPerformance(ctx context.Context, c *Coin, rng, bin time.Duration, now time.Time) ([]AggregatedPoolStats, error) {
	start := now.Add(-rng).Truncate(bin)
	netDiff := map[time.Time]float64{}
	rows, err := h.db.Query(ctx, sqlNetworkDifficultyBins, c.ID, start, now, bin.Seconds())
	if err != nil {
		return nil, fmt.Errorf("pool %s network difficulty: %w", c.ID, err)
	}
	for rows.Next() {
		var t time.Time
		var d float64
		if err := rows.Scan(&t, &d); err != nil {
			return nil, fmt.Errorf("pool %s network difficulty: %w", c.ID, err)
		}
		netDiff[t.UTC()] = d
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pool %s network difficulty: %w", c.ID, err)
	}

	rows, err = h.db.Query(ctx, sqlPoolHourly, c.ID, start, now, bin.Seconds(), fromShares(now))
	if err != nil {
		return nil, fmt.Errorf("pool %s performance: %w", c.ID, err)
	}
	out := []AggregatedPoolStats{}
	for rows.Next() {
		var s AggregatedPoolStats
		var diff float64
		var shares int64
		if err := rows.Scan(&s.Created, &diff, &shares, &s.ConnectedMiners); err != nil {
			return nil, fmt.Errorf("pool %s performance: %w", c.ID, err)
		}
		s.Created = s.Created.UTC()
		secs := binSeconds(s.Created, now, bin)
		s.PoolHashrate = diff * hashesPerDifficulty / secs
		s.ValidSharesPerSecond = int64(float64(shares) / secs)
		if d, ok := netDiff[s.Created]; ok {
			s.NetworkDifficulty = d / storedPerNetworkDifficulty
			s.NetworkHashrate = networkHashrate(d, c.BlockTime)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pool %s performance: %w", c.ID, err)
	}
	return out, nil
}

func (h *Handler) blocks(ctx context.Context, coins []*Coin, states []string, offset, limit int64) ([]Block, error) {
	ids := make([]string, len(coins))
	byID := map[string]*Coin{}
	for i, c := range coins {
		ids[i] = c.ID
		byID[c.ID] = c
	}
	rows, err := h.db.Query(ctx, sqlBlocks, ids, states, offset, limit)
	if err != nil {
		return nil, fmt.Errorf("blocks: %w", err)
	}
	out := []Block{}
	var blockIDs []int64
	for rows.Next() {
		var b Block
		var id, height, reward int64
		var hash, miner string
		var netDiff *float64
		if err := rows.Scan(&id, &b.PoolID, &height, &b.Status, &b.Confirmations, &reward, &hash, &miner, &b.Created, &netDiff); err != nil {
			return nil, fmt.Errorf("blocks: %w", err)
		}
		blockIDs = append(blockIDs, id)
		c := byID[b.PoolID]
		b.BlockHeight = uint64(max(height, 0))
		b.Created = b.Created.UTC()
		b.Reward = payout.Coins(reward, c.UnitsPerCoin)
		b.Hash, b.Miner = &hash, &miner
		// The coinbase txid is not stored; the block hash stands in.
		b.TransactionConfirmationData = hash
		if netDiff != nil {
			b.NetworkDifficulty = *netDiff / storedPerNetworkDifficulty
		}
		switch b.Status {
		case "confirmed":
			b.ConfirmationProgress = 1
		case "pending":
			b.ConfirmationProgress = min(1, max(0, float64(b.Confirmations)/float64(c.Confirmations)))
		}
		b.InfoLink = blockLink(c.Explorer.BlockLink, height, hash)
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("blocks: %w", err)
	}
	efforts, err := h.efforts.of(ctx, h.db, blockIDs, out, h.cfg.Now())
	if err != nil {
		return nil, err
	}
	for i := range out {
		out[i].Effort = efforts[i]
	}
	return out, nil
}

// effortSettled is how old a block must be before its effort is kept:
// a share committed out of id order (two stratum servers) has landed by
// then.
const effortSettled = 10 * time.Minute

// maxEfforts bounds the efforts kept: a pool finding a block every
// minute for two months.
const maxEfforts = 100_000

// efforts keeps each block's effort once its round is settled: it never
// changes after (pruning its shares later would only make it unknown).
type efforts struct {
	mu   sync.Mutex
	kept map[int64]*float64
}

// of is the effort of each block (ids[i] is blocks[i]'s), from those
// kept, the rest from one query.
func (e *efforts) of(ctx context.Context, db Querier, ids []int64, blocks []Block, now time.Time) ([]*float64, error) {
	out := make([]*float64, len(ids))
	var missing []int64
	e.mu.Lock()
	for i, id := range ids {
		if v, ok := e.kept[id]; ok {
			out[i] = v
		} else {
			missing = append(missing, id)
		}
	}
	e.mu.Unlock()
	if len(missing) == 0 {
		return out, nil
	}
	rows, err := db.Query(ctx, sqlBlockEfforts, missing)
	if err != nil {
		return nil, fmt.Errorf("blocks' effort: %w", err)
	}
	computed := map[int64]*float64{}
	for rows.Next() {
		var id int64
		var v *float64
		if err := rows.Scan(&id, &v); err != nil {
			return nil, fmt.Errorf("blocks' effort: %w", err)
		}
		computed[id] = v
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("blocks' effort: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.kept == nil || len(e.kept)+len(computed) > maxEfforts {
		e.kept = map[int64]*float64{}
	}
	for i, id := range ids {
		v, ok := computed[id]
		if !ok {
			continue
		}
		out[i] = v
		if now.Sub(blocks[i].Created) >= effortSettled {
			e.kept[id] = v
		}
	}
	return out, nil
}

func (h *Handler) blockCount(ctx context.Context, coins []*Coin, states []string) (int64, error) {
	ids := make([]string, len(coins))
	for i, c := range coins {
		ids[i] = c.ID
	}
	var n int64
	if err := h.db.QueryRow(ctx, sqlBlockCount, ids, states).Scan(&n); err != nil {
		return 0, fmt.Errorf("count blocks: %w", err)
	}
	return n, nil
}

// payments lists sent payments of the coin, of one address or of all
// (address "").
func (h *Handler) payments(ctx context.Context, c *Coin, address string, offset, limit int64) ([]Payment, error) {
	rows, err := h.db.Query(ctx, sqlPayments, c.ID, address, offset, limit)
	if err != nil {
		return nil, fmt.Errorf("pool %s payments: %w", c.ID, err)
	}
	out := []Payment{}
	for rows.Next() {
		var p Payment
		var units int64
		var settled *time.Time
		if err := rows.Scan(&p.Address, &units, &p.TransactionConfirmationData, &settled); err != nil {
			return nil, fmt.Errorf("pool %s payments: %w", c.ID, err)
		}
		p.Coin = c.Symbol
		p.Amount = payout.Coins(units, c.UnitsPerCoin)
		if settled != nil {
			p.Created = settled.UTC()
		}
		p.AddressInfoLink = link(c.Explorer.AddressLink, p.Address)
		p.TransactionInfoLink = link(c.Explorer.TxLink, p.TransactionConfirmationData)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pool %s payments: %w", c.ID, err)
	}
	return out, nil
}

func (h *Handler) paymentCount(ctx context.Context, c *Coin, address string) (int64, error) {
	var n int64
	if err := h.db.QueryRow(ctx, sqlPaymentCount, c.ID, address).Scan(&n); err != nil {
		return 0, fmt.Errorf("pool %s count payments: %w", c.ID, err)
	}
	return n, nil
}

func (h *Handler) minerStats(ctx context.Context, c *Coin, address string, samples sampleRange, now time.Time) (MinerStats, error) {
	known, err := h.known(ctx, c, address)
	if err != nil || !known {
		// An address the pool never saw: MiningCore's answer of zeros,
		// without the queries (any valid address is free to make, and
		// the shares have no index by address).
		zero := payout.Coins(0, c.UnitsPerCoin)
		return MinerStats{PendingBalance: zero, TotalPaid: zero, TodayPaid: zero, PerformanceSamples: []WorkerPerformance{}}, err
	}
	var s MinerStats
	var owed, paid, today int64
	var held string
	today0 := now.UTC().Truncate(24 * time.Hour)
	if err := h.db.QueryRow(ctx, sqlMinerTotals, c.ID, address, today0).Scan(&s.PendingShares, &owed, &paid, &held, &today); err != nil {
		return MinerStats{}, fmt.Errorf("pool %s miner: %w", c.ID, err)
	}
	s.PendingBalance = payout.Coins(owed, c.UnitsPerCoin)
	s.TotalPaid = payout.Coins(paid, c.UnitsPerCoin)
	s.TodayPaid = payout.Coins(today, c.UnitsPerCoin)
	if held != "" {
		s.BalanceHeldReason = &held
	}

	var last time.Time
	var txid string
	switch err := h.db.QueryRow(ctx, sqlLastPayment, c.ID, address).Scan(&last, &txid); err {
	case nil:
		s.LastPayment = utc(&last)
		s.LastPaymentLink = link(c.Explorer.TxLink, txid)
	case pgx.ErrNoRows:
	default:
		return MinerStats{}, fmt.Errorf("pool %s miner's last payment: %w", c.ID, err)
	}

	perf, err := h.workersNow(ctx, c, address, now)
	if err != nil {
		return MinerStats{}, err
	}
	s.Performance = perf
	if s.PerformanceSamples, err = h.samples(ctx, c, address, samples, now); err != nil {
		return MinerStats{}, err
	}
	return s, nil
}

// known says whether the pool has seen address (sqlMinerKnown: two
// lookups by key, where the miner's figures scan the day's shares).
func (h *Handler) known(ctx context.Context, c *Coin, address string) (bool, error) {
	var known bool
	if err := h.db.QueryRow(ctx, sqlMinerKnown, c.ID, address).Scan(&known); err != nil {
		return false, fmt.Errorf("pool %s miner known: %w", c.ID, err)
	}
	return known, nil
}

// minerPerformance is a miner's samples over a range: Hour in 3-minute
// and Day in hourly buckets from the shares (kept at least 24 h), Month
// in daily buckets from stats_hourly (per address, no workers).
func (h *Handler) minerPerformance(ctx context.Context, c *Coin, address string, r sampleRange, now time.Time) ([]WorkerPerformance, error) {
	if known, err := h.known(ctx, c, address); err != nil || !known {
		return []WorkerPerformance{}, err // as minerStats: no query for an address never seen
	}
	return h.samples(ctx, c, address, r, now)
}

// samples is minerPerformance for an address the pool has seen.
func (h *Handler) samples(ctx context.Context, c *Coin, address string, r sampleRange, now time.Time) ([]WorkerPerformance, error) {
	switch r {
	case rangeHour:
		bin := 3 * time.Minute
		return h.workerSamples(ctx, sqlWorkerBins, c, address, now.Add(-time.Hour).Truncate(bin), now, bin, now)
	case rangeMonth:
		bin := 24 * time.Hour
		return h.workerSamples(ctx, sqlAddressBins, c, address, now.Add(-30*24*time.Hour).Truncate(bin), now, bin, now)
	default:
		bin := time.Hour
		return h.workerSamples(ctx, sqlWorkerBins, c, address, now.Add(-24*time.Hour).Truncate(bin), now, bin, now)
	}
}

// workerSamples runs one of the bucketed worker queries over (from, to].
func (h *Handler) workerSamples(ctx context.Context, query string, c *Coin, address string, from, to time.Time, bin time.Duration, now time.Time) ([]WorkerPerformance, error) {
	rows, err := h.db.Query(ctx, query, c.ID, address, from, to, bin.Seconds())
	if err != nil {
		return nil, fmt.Errorf("pool %s miner performance: %w", c.ID, err)
	}
	out := []WorkerPerformance{}
	for rows.Next() {
		var t time.Time
		var worker string
		var diff float64
		var n int64
		if err := rows.Scan(&t, &worker, &diff, &n); err != nil {
			return nil, fmt.Errorf("pool %s miner performance: %w", c.ID, err)
		}
		t = t.UTC()
		if len(out) == 0 || !out[len(out)-1].Created.Equal(t) {
			out = append(out, WorkerPerformance{Created: t, Workers: map[string]WorkerRate{}})
		}
		secs := binSeconds(t, now, bin)
		out[len(out)-1].Workers[worker] = WorkerRate{
			Hashrate:        diff * hashesPerDifficulty / secs,
			SharesPerSecond: float64(n) / secs,
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pool %s miner performance: %w", c.ID, err)
	}
	return out, nil
}

// workersNow is each worker's rate over the last 10 minutes, stamped
// now; nil when the miner sent nothing in them.
func (h *Handler) workersNow(ctx context.Context, c *Coin, address string, now time.Time) (*WorkerPerformance, error) {
	rows, err := h.db.Query(ctx, sqlWorkersNow, c.ID, address, now.Add(-shareWindow), now)
	if err != nil {
		return nil, fmt.Errorf("pool %s miner's workers: %w", c.ID, err)
	}
	perf := &WorkerPerformance{Created: now.UTC(), Workers: map[string]WorkerRate{}}
	for rows.Next() {
		var worker string
		var diff float64
		var n int64
		if err := rows.Scan(&worker, &diff, &n); err != nil {
			return nil, fmt.Errorf("pool %s miner's workers: %w", c.ID, err)
		}
		perf.Workers[worker] = WorkerRate{
			Hashrate:        diff * hashesPerDifficulty / shareWindow.Seconds(),
			SharesPerSecond: float64(n) / shareWindow.Seconds(),
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pool %s miner's workers: %w", c.ID, err)
	}
	if len(perf.Workers) == 0 {
		return nil, nil
	}
	return perf, nil
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
