// Command bench-payout prints the time and memory of one payout
// computation — crediting a block by PPLNS to 10,000 miners over a window
// of 1,000,000 shares — beside the naive approach it replaces, which
// reads every share into memory and recomputes, in the same run, against
// the same real PostgreSQL (started here, on loopback, and stopped at the
// end).
//
// The memory figure is the client's peak Go heap plus the peak private
// memory of the PostgreSQL processes that did the work (the connection's
// backend and its parallel workers, sampled from /proc), since the work
// runs inside the database; the shared buffers the backend touched are
// printed but not counted, being a cache of fixed size set at start.
// It reads other processes' /proc entries: run it as root.
//
// Exit codes: 0 every target met, 1 a target missed or not measured (the
// figures are printed all the same) or the run failed.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scryptpool/poolmicrocloud/tools/internal/ledger"
	"github.com/scryptpool/poolmicrocloud/tools/internal/localdb"
	"github.com/scryptpool/poolmicrocloud/tools/internal/payout"
)

// sharedBuffers is the scratch server's shared_buffers.
const sharedBuffers = "256MB"

func main() {
	miners := flag.Int("miners", 10_000, "miner addresses")
	shares := flag.Int("shares", 1_000_000, "shares in the PPLNS window")
	runs := flag.Int("runs", 3, "runs of each approach (the median time and the highest memory are printed)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *miners, *shares, *runs); err != nil {
		fmt.Fprintln(os.Stderr, "bench-payout:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, miners, shares, runs int) error {
	if miners < 1 || shares < 1 || runs < 1 {
		return fmt.Errorf("miners, shares and runs must be positive")
	}
	started := time.Now()
	pg, err := localdb.StartScratch("bench-payout-", "fsync=off", "shared_buffers="+sharedBuffers)
	if err != nil {
		return err
	}
	defer pg.Stop()
	db, err := pgxpool.New(ctx, pg.DSN)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := ledger.Migrate(ctx, db); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "filling %d shares of %d miners...\n", shares, miners)
	blockID, err := fill(ctx, db, miners, shares)
	if err != nil {
		return err
	}
	scheme := payout.Scheme{Name: "pplns", Window: 2}
	const reward, fee = 1_250_000_000, 1.0

	var ours, naive []figure
	for i := 0; i < runs; i++ {
		f, err := measure(ctx, pg, func(c *pgx.Conn) (int, int64, error) { return oursOnce(ctx, c, blockID, reward, fee, scheme) })
		if err != nil {
			return fmt.Errorf("ours: %w", err)
		}
		ours = append(ours, f)
		f, err = measure(ctx, pg, func(c *pgx.Conn) (int, int64, error) { return naiveOnce(ctx, c, reward, fee, scheme) })
		if err != nil {
			return fmt.Errorf("naive: %w", err)
		}
		naive = append(naive, f)
		fmt.Fprintf(os.Stderr, "  run %d: ours %s, naive %s\n", i+1, ours[i].wall.Round(time.Millisecond), naive[i].wall.Round(time.Millisecond))
	}
	o, n := summarize(ours), summarize(naive)
	if o.credits != n.credits || o.units != n.units {
		return fmt.Errorf("the two approaches disagree: ours %d credits / %d units, naive %d / %d", o.credits, o.units, n.credits, n.units)
	}
	fmt.Printf("bench-payout: one payout computation, PPLNS, %d miners, window of %d shares; %d runs each\n", miners, shares, runs)
	fmt.Printf("machine: %d CPUs, %s, PostgreSQL 15 (Debian) on loopback, fsync off, shared_buffers %s\n\n", runtime.NumCPU(), runtime.Version(), sharedBuffers)
	err = report(os.Stdout, o, n)
	fmt.Printf("run took %s\n", time.Since(started).Round(time.Second))
	return err
}

// fill writes shares (difficulty 1 each, round-robin over miners) and one
// block at the last share whose network difficulty makes the PPLNS window
// (2 x network difficulty) exactly the given number of shares.
func fill(ctx context.Context, db *pgxpool.Pool, miners, shares int) (int64, error) {
	now := time.Now()
	netDiff := float64(shares) / 2
	_, err := db.CopyFrom(ctx, pgx.Identifier{"shares"},
		[]string{"share_key", "coin", "address", "worker", "difficulty", "network_difficulty", "height", "instance", "submitted_at"},
		pgx.CopyFromSlice(shares+shares/10, func(i int) ([]any, error) {
			// A tenth more shares before the window: the naive approach
			// reads them too, as it reads everything.
			return []any{strconv.Itoa(i), "ltc", fmt.Sprintf("miner-%05d", i%miners), "", 1.0, netDiff, int64(100), "bench", now}, nil
		}))
	if err != nil {
		return 0, fmt.Errorf("fill shares: %w", err)
	}
	var blockID int64
	err = db.QueryRow(ctx, `
		INSERT INTO blocks (coin, height, hash, address, reward, share_id, found_at)
		VALUES ('ltc', 100, 'bench', 'pool', 1250000000, (SELECT max(id) FROM shares), now()) RETURNING id`).Scan(&blockID)
	if err != nil {
		return 0, err
	}
	_, err = db.Exec(ctx, `ANALYZE shares`)
	return blockID, err
}

func oursOnce(ctx context.Context, db *pgx.Conn, blockID, reward int64, fee float64, scheme payout.Scheme) (int, int64, error) {
	tx, err := db.Begin(ctx)
	if err != nil {
		return 0, 0, err
	}
	defer tx.Rollback(ctx)
	split, ok, err := payout.CreditBlock(ctx, tx, blockID, reward, fee, scheme, 100)
	if err != nil || !ok {
		return 0, 0, fmt.Errorf("credit: %v (credited %v)", err, ok)
	}
	var units int64
	for _, u := range split.Credits {
		units += u
	}
	return len(split.Credits), units, nil
}

// naiveOnce is the approach of cron-driven pools: read all shares, walk
// back from the block's share to fill the window, sum by miner.
func naiveOnce(ctx context.Context, db *pgx.Conn, reward int64, fee float64, scheme payout.Scheme) (int, int64, error) {
	rows, err := db.Query(ctx, `SELECT id, address, difficulty, network_difficulty FROM shares WHERE coin = 'ltc' ORDER BY id`)
	if err != nil {
		return 0, 0, err
	}
	type share struct {
		id          int64
		address     string
		diff, netDf float64
	}
	var all []share
	for rows.Next() {
		var s share
		if err := rows.Scan(&s.id, &s.address, &s.diff, &s.netDf); err != nil {
			return 0, 0, err
		}
		all = append(all, s)
	}
	if err := rows.Err(); err != nil {
		return 0, 0, err
	}
	window := scheme.Window * all[len(all)-1].netDf
	var weights []payout.Weight
	sum := 0.0
	for i := len(all) - 1; i >= 0 && sum < window; i-- {
		weights = append(weights, payout.Weight{Address: all[i].address, Difficulty: all[i].diff})
		sum += all[i].diff
	}
	split, err := payout.SplitReward(reward, 0, fee, weights)
	if err != nil {
		return 0, 0, err
	}
	var units int64
	for _, u := range split.Credits {
		units += u
	}
	return len(split.Credits), units, nil
}
