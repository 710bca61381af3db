package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scryptpool/poolmicrocloud/tools/internal/chain"
	"github.com/scryptpool/poolmicrocloud/tools/internal/housekeeping"
	"github.com/scryptpool/poolmicrocloud/tools/internal/ledger"
	"github.com/scryptpool/poolmicrocloud/tools/internal/payout"
)

// dataset is the pool the site is measured over.
type dataset struct {
	Miners       int
	ShareSeconds time.Duration // each worker's share interval (vardiff's target)
	Days         int           // of stats_hourly, blocks and payouts
	BlocksPerDay int
	PayoutEvery  time.Duration
	Now          time.Time
	Seed         uint64
}

// filled is what the fill wrote, for the report and the requests.
type filled struct {
	Miners, Workers int
	Shares          int64
	Blocks          int64
	Payouts         int64
	PayoutItems     int64
	HourlyRows      int64
	BusiestMiner    string // the miner whose page is measured: the most workers
	BusiestWorkers  int
	Took            time.Duration
}

const (
	coin      = "ltc"
	scheme    = "pplns"
	window    = 2.0
	reward    = 625_000_000 // 6.25 LTC
	feePct    = 1.0
	blockTime = 150 * time.Second
	// hashesPerDifficulty: a share of difficulty 1 is 65536 scrypt hashes.
	hashesPerDifficulty = 65536.0
)

// workersOf is how many workers miner i runs: 1 to 4, and 12 for the
// first, whose page is measured.
func workersOf(i int) int {
	if i == 0 {
		return 12
	}
	return 1 + i%4
}

// fill writes the dataset: 24 hours of shares through stratum's ledger
// writer (the blocks found in them too), blocks before them and
// payouts as the blocks and payout jobs leave them, crediting by the
// payout's own CreditBlock, and stats_hourly by the stats job's roll-up
// over the shares plus the hours before them, whose shares the roll-up
// would have pruned.
func fill(ctx context.Context, db *pgxpool.Pool, d dataset) (filled, error) {
	started := time.Now()
	rng := rand.New(rand.NewPCG(d.Seed, 17))
	f := filled{Miners: d.Miners}
	type worker struct {
		address, name string
		diff          float64 // vardiff's difficulty for its hashrate
		offset        time.Duration
	}
	var workers []worker
	addresses := make([]string, d.Miners)
	minerDiff := make([]float64, d.Miners) // the sum of its workers' difficulties
	poolHashrate := 0.0
	for i := range d.Miners {
		addresses[i] = mainnetAddress(i)
		for w := range workersOf(i) {
			// 50 MH/s to 1 GH/s: small scrypt ASICs.
			rate := 50e6 + rng.Float64()*950e6
			poolHashrate += rate
			minerDiff[i] += rate * d.ShareSeconds.Seconds() / hashesPerDifficulty
			workers = append(workers, worker{
				address: addresses[i], name: fmt.Sprintf("rig%02d", w),
				diff:   rate * d.ShareSeconds.Seconds() / hashesPerDifficulty,
				offset: time.Duration(rng.Int64N(int64(d.ShareSeconds))),
			})
		}
	}
	f.Workers = len(workers)
	f.BusiestMiner, f.BusiestWorkers = addresses[0], workersOf(0)
	// The network's difficulty, in stratum's units, at which the pool
	// finds BlocksPerDay: scaled down from mainnet's so that a month
	// has hundreds of blocks, as the site must show them.
	netDiff := poolHashrate * 86400 / float64(d.BlocksPerDay) / hashesPerDifficulty
	blockEvery := 24 * time.Hour / time.Duration(d.BlocksPerDay)
	start := d.Now.Add(-24 * time.Hour)
	height := func(at time.Time) int64 { return 2_800_000 + int64(at.Sub(d.Now)/blockTime) }

	// Blocks before the shares: their shares are pruned, as the stats
	// job leaves them.
	var old [][]any
	for at := d.Now.Add(-time.Duration(d.Days) * 24 * time.Hour); at.Before(start); at = at.Add(blockEvery) {
		finder := addresses[rng.IntN(d.Miners)]
		status := "confirmed"
		if rng.IntN(20) == 0 {
			status = "orphaned"
		}
		confirmations := int64(d.Now.Sub(at) / blockTime)
		credited := any(at.Add(100 * blockTime))
		if status == "orphaned" {
			confirmations, credited = -1, nil
		}
		old = append(old, []any{coin, height(at), randomHex(rng, 32), finder, "rig00", int64(reward), status, at, "ltc-wallet-0", credited, confirmations})
	}
	if _, err := db.CopyFrom(ctx, pgx.Identifier{"blocks"},
		[]string{"coin", "height", "hash", "address", "worker", "reward", "status", "found_at", "wallet", "credited_at", "confirmations"},
		pgx.CopyFromRows(old)); err != nil {
		return f, fmt.Errorf("old blocks: %w", err)
	}

	// 24 hours of shares. The last hour as the stratum servers hand
	// them to the ledger writer, with the blocks found in it; the hours
	// before copied in bulk (the rows the writer would write, and its
	// workers upsert as one statement), which is faster by far.
	type found struct {
		hash string
		key  string
		at   time.Time
		wk   int
	}
	var blocksFound []found
	nextBlock := start.Add(blockEvery / 2)
	var seq int64
	share := func(t time.Time, i int) (ledger.Share, bool) {
		wk := workers[i]
		at := t.Add(wk.offset)
		if !at.Before(d.Now) {
			return ledger.Share{}, false
		}
		seq++
		return ledger.Share{
			Key: fmt.Sprintf("bench-%d", seq), Coin: coin, Address: wk.address, Worker: wk.name,
			Difficulty: wk.diff, NetworkDifficulty: netDiff, Height: height(at), Instance: fmt.Sprintf("ltc-stratum-%d", i%2), At: at,
		}, true
	}
	blockAt := func(s ledger.Share, i int) {
		if s.At.After(nextBlock) {
			blocksFound = append(blocksFound, found{hash: randomHex(rng, 32), key: s.Key, at: s.At, wk: i})
			nextBlock = nextBlock.Add(blockEvery)
		}
	}
	bulkUntil := d.Now.Add(-time.Hour)
	t, i := start, 0
	_, err := db.CopyFrom(ctx, pgx.Identifier{"shares"},
		[]string{"share_key", "coin", "address", "worker", "difficulty", "network_difficulty", "height", "instance", "submitted_at"},
		pgx.CopyFromFunc(func() ([]any, error) {
			for t.Before(bulkUntil) {
				s, ok := share(t, i)
				wi := i
				if i++; i == len(workers) {
					t, i = t.Add(d.ShareSeconds), 0
				}
				if ok {
					blockAt(s, wi)
					return []any{s.Key, s.Coin, s.Address, s.Worker, s.Difficulty, s.NetworkDifficulty, s.Height, s.Instance, s.At}, nil
				}
			}
			return nil, nil
		}))
	if err != nil {
		return f, fmt.Errorf("copy shares: %w", err)
	}
	if _, err := db.Exec(ctx, `INSERT INTO workers (coin, address, worker, first_seen, last_seen)
		SELECT coin, address, worker, min(submitted_at), max(submitted_at) FROM shares GROUP BY 1, 2, 3`); err != nil {
		return f, fmt.Errorf("workers: %w", err)
	}
	for _, b := range blocksFound {
		wk := workers[b.wk]
		if _, err := db.Exec(ctx, `INSERT INTO blocks (coin, height, hash, address, worker, reward, share_id, found_at, wallet)
			VALUES ($1, $2, $3, $4, $5, $6, (SELECT id FROM shares WHERE share_key = $7), $8, 'ltc-wallet-0')`,
			coin, height(b.at), b.hash, wk.address, wk.name, int64(reward), b.key, b.at); err != nil {
			return f, fmt.Errorf("block: %w", err)
		}
	}
	fmt.Fprintf(os.Stderr, "  %d shares copied; the last hour through the ledger writer...\n", seq)

	w := ledger.NewWriter(db, ledger.WriterOptions{BatchSize: 5000, BufferShares: 200_000})
	runCtx, stopWriter := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(runCtx) }()
	written := len(blocksFound)
	for ; t.Before(d.Now); t, i = t.Add(d.ShareSeconds), 0 {
		for ; i < len(workers); i++ {
			s, ok := share(t, i)
			if !ok {
				continue
			}
			for {
				err := w.Add(s)
				if err == nil {
					break
				}
				if !errors.Is(err, ledger.ErrBufferFull) {
					stopWriter()
					<-done
					return f, err
				}
				time.Sleep(5 * time.Millisecond)
			}
			blockAt(s, i)
			if len(blocksFound) > written {
				b := blocksFound[written]
				written++
				if err := w.AddBlock(ledger.Block{Coin: coin, Height: height(b.at), Hash: b.hash, Address: s.Address, Worker: s.Worker,
					Reward: reward, Wallet: "ltc-wallet-0", At: b.at, ShareKey: b.key}); err != nil {
					stopWriter()
					<-done
					return f, err
				}
			}
		}
	}
	err = w.Flush(ctx)
	stopWriter()
	if runErr := <-done; err == nil {
		err = runErr
	}
	if err != nil {
		return f, fmt.Errorf("write shares: %w", err)
	}
	var newBlocks []string
	for _, b := range blocksFound {
		newBlocks = append(newBlocks, b.hash)
	}

	// The blocks job's view of the new blocks: those past 100
	// confirmations credited by the payout's own crediting.
	for _, hash := range newBlocks {
		var id int64
		var found time.Time
		if err := db.QueryRow(ctx, `SELECT id, found_at FROM blocks WHERE hash = $1`, hash).Scan(&id, &found); err != nil {
			return f, err
		}
		confirmations := int64(d.Now.Sub(found) / blockTime)
		if confirmations < 100 {
			if _, err := db.Exec(ctx, `UPDATE blocks SET confirmations = $2 WHERE id = $1`, id, confirmations); err != nil {
				return f, err
			}
			continue
		}
		err = pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
			_, _, err := payout.CreditBlock(ctx, tx, id, reward, feePct, payout.Scheme{Name: scheme, Window: window}, confirmations)
			return err
		})
		if err != nil {
			return f, fmt.Errorf("credit block %s: %w", hash, err)
		}
	}

	// Payouts, as payout.Pay leaves them once sent: items of the
	// miners owed enough, the balances moved.
	var pays, items [][]any
	paid := map[string]int64{}
	for at := d.Now.Add(-time.Duration(d.Days) * 24 * time.Hour).Add(d.PayoutEvery); at.Before(d.Now); at = at.Add(d.PayoutEvery) {
		id := fmt.Sprintf("bench-%d", at.Unix())
		var total int64
		for _, a := range addresses {
			if rng.IntN(10) < 3 {
				continue
			}
			amount := 10_000_000 + rng.Int64N(40_000_000)
			items = append(items, []any{id, a, amount})
			paid[a] += amount
			total += amount
		}
		pays = append(pays, []any{id, coin, "sent", total, randomHex(rng, 32), "ltc-wallet-0", at.Add(-time.Minute), at})
	}
	if _, err := db.CopyFrom(ctx, pgx.Identifier{"payouts"}, []string{"id", "coin", "status", "total", "txid", "wallet", "created_at", "settled_at"}, pgx.CopyFromRows(pays)); err != nil {
		return f, fmt.Errorf("payouts: %w", err)
	}
	if _, err := db.CopyFrom(ctx, pgx.Identifier{"payout_items"}, []string{"payout_id", "address", "amount"}, pgx.CopyFromRows(items)); err != nil {
		return f, fmt.Errorf("payout items: %w", err)
	}
	f.Payouts, f.PayoutItems = int64(len(pays)), int64(len(items))
	for _, a := range addresses {
		if _, err := db.Exec(ctx, `INSERT INTO balances (coin, address, owed, paid) VALUES ($1, $2, $3, $4)
			ON CONFLICT (coin, address) DO UPDATE SET paid = balances.paid + EXCLUDED.paid`, coin, a, rng.Int64N(20_000_000), paid[a]); err != nil {
			return f, err
		}
	}

	// stats_hourly: the hours before the shares, then the roll-up of
	// the shares present.
	var hourly [][]any
	for h := d.Now.Truncate(time.Hour).Add(-time.Duration(d.Days) * 24 * time.Hour); h.Before(start.Truncate(time.Hour)); h = h.Add(time.Hour) {
		for i, a := range addresses {
			// Each worker's shares of the hour, give or take a fifth.
			perWorker := float64(time.Hour/d.ShareSeconds) * (0.8 + 0.4*rng.Float64())
			hourly = append(hourly, []any{coin, a, h, int64(perWorker * float64(workersOf(i))), perWorker * minerDiff[i]})
		}
	}
	if _, err := db.CopyFrom(ctx, pgx.Identifier{"stats_hourly"}, []string{"coin", "address", "hour", "shares", "difficulty"}, pgx.CopyFromRows(hourly)); err != nil {
		return f, fmt.Errorf("stats_hourly: %w", err)
	}
	o := housekeeping.DefaultStatsOptions([]housekeeping.CoinScheme{{Coin: coin, Scheme: payout.Scheme{Name: scheme, Window: window}}})
	o.Now = func() time.Time { return d.Now }
	if _, err := housekeeping.Stats(ctx, db, o); err != nil {
		return f, fmt.Errorf("stats roll-up: %w", err)
	}
	if _, err := db.Exec(ctx, `VACUUM ANALYZE`); err != nil {
		return f, err
	}
	for _, c := range []struct {
		n   *int64
		sql string
	}{{&f.Blocks, `SELECT count(*) FROM blocks`}, {&f.HourlyRows, `SELECT count(*) FROM stats_hourly`}, {&f.Shares, `SELECT count(*) FROM shares`}} {
		if err := db.QueryRow(ctx, c.sql).Scan(c.n); err != nil {
			return f, err
		}
	}
	f.Took = time.Since(started)
	return f, nil
}

// mainnetAddress is miner i's address: a Litecoin mainnet P2PKH address
// (base58check, version 0x30) of a made-up key hash, checked by the
// same function the site checks addresses with.
func mainnetAddress(i int) string {
	h := sha256.Sum256(fmt.Appendf(nil, "bench-web miner %d", i))
	payload := append([]byte{0x30}, h[:20]...)
	sum := sha256.Sum256(payload)
	sum = sha256.Sum256(sum[:])
	a := base58(append(payload, sum[:4]...))
	if c, err := chain.CanonicalAddress(a, "mainnet"); err != nil || c != a {
		panic(fmt.Sprintf("made-up address %s is not canonical: %v", a, err))
	}
	return a
}

func base58(b []byte) string {
	const alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
	n := new(big.Int).SetBytes(b)
	var out []byte
	mod, radix := new(big.Int), big.NewInt(58)
	for n.Sign() > 0 {
		n.DivMod(n, radix, mod)
		out = append(out, alphabet[mod.Int64()])
	}
	for _, c := range b {
		if c != 0 {
			break
		}
		out = append(out, '1')
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return string(out)
}

func randomHex(rng *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.UintN(256))
	}
	return hex.EncodeToString(b)
}
