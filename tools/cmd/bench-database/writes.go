package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scryptpool/poolmicrocloud/tools/internal/ledger"
	"github.com/scryptpool/poolmicrocloud/tools/internal/localdb"
)

// throughput is the write benchmark's runs: shares written per second
// on each cluster, run by run.
type throughput struct {
	shares, miners int
	single, synced []float64
}

// measureWrites writes the same shares through the ledger writer on both
// clusters, alternating which goes first, so that what else the machine
// does in the meantime falls on both alike.
func measureWrites(ctx context.Context, o options, single, synced *localdb.Cluster) (throughput, error) {
	tp := throughput{shares: o.shares, miners: o.miners}
	dbs := map[*localdb.Cluster]*pgxpool.Pool{}
	for _, c := range []*localdb.Cluster{single, synced} {
		// The stratum server's pool: ledger.Open, four connections.
		db, err := ledger.Open(c.DSN(), nil, "", 4)
		if err != nil {
			return tp, err
		}
		defer db.Close()
		if err := ledger.Migrate(ctx, db); err != nil {
			return tp, fmt.Errorf("create the ledger's tables: %w", err)
		}
		dbs[c] = db
	}
	// A first run meets cold caches and a table still growing its first
	// pages: one warm-up of each, not counted.
	for name, c := range map[string]*localdb.Cluster{"single": single, "synced": synced} {
		shares := makeShares(name+"-warm-up", max(o.shares/4, 1), o.miners)
		elapsed, err := writeAll(ctx, dbs[c], shares)
		if err != nil {
			return tp, fmt.Errorf("%s, warm-up: %w", name, err)
		}
		fmt.Fprintf(os.Stderr, "  warm-up, %s: %d shares in %s\n", name, len(shares), elapsed.Round(time.Millisecond))
	}
	for run := 1; run <= o.runs; run++ {
		order := []*localdb.Cluster{single, synced}
		if run%2 == 0 {
			order = []*localdb.Cluster{synced, single}
		}
		for _, c := range order {
			name, rates := "single", &tp.single
			if c == synced {
				name, rates = "synced", &tp.synced
				// Every synchronous run is measured with the standby
				// confirming each commit.
				if _, _, err := ready(ctx, c, time.Minute); err != nil {
					return tp, fmt.Errorf("before run %d: %w", run, err)
				}
			}
			shares := makeShares(fmt.Sprintf("%s-run%d", name, run), o.shares, o.miners)
			elapsed, err := writeAll(ctx, dbs[c], shares)
			if err != nil {
				return tp, fmt.Errorf("%s, run %d: %w", name, run, err)
			}
			rate := float64(len(shares)) / elapsed.Seconds()
			*rates = append(*rates, rate)
			fmt.Fprintf(os.Stderr, "  run %d, %s: %d shares in %s, %.0f/s\n", run, name, len(shares), elapsed.Round(time.Millisecond), rate)
		}
	}
	return tp, nil
}

// makeShares are n shares of one run, spread over miners, made before
// the clock starts.
func makeShares(run string, n, miners int) []ledger.Share {
	out := make([]ledger.Share, n)
	for i := range out {
		out[i] = benchShare(fmt.Sprintf("%s-%d", run, i), run, i%miners)
	}
	return out
}

func benchShare(key, instance string, miner int) ledger.Share {
	return ledger.Share{
		Key: key, Coin: "ltc", Address: fmt.Sprintf("bench-miner-%04d", miner), Worker: "rig",
		Difficulty: 16, NetworkDifficulty: 20_000_000, Height: 2_500_000, Instance: instance,
	}
}

// writeAll hands every share to a new writer as fast as it takes them
// (waiting when its buffer is full, as it pushes back) and times until
// the last is committed.
func writeAll(ctx context.Context, db *pgxpool.Pool, shares []ledger.Share) (time.Duration, error) {
	w := ledger.NewWriter(db, ledger.WriterOptions{})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(runCtx) }()
	defer func() {
		stop()
		<-done
	}()
	start := time.Now()
	for i := 0; i < len(shares); {
		err := w.Add(shares[i])
		switch {
		case err == nil:
			i++
		case errors.Is(err, ledger.ErrBufferFull):
			time.Sleep(time.Millisecond)
		default:
			return 0, err
		}
	}
	flushCtx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	if err := w.Flush(flushCtx); err != nil {
		return 0, err
	}
	elapsed := time.Since(start)
	if s := w.Stats(); s.Written != uint64(len(shares)) || s.Duplicates != 0 || s.FailedAttempts != 0 {
		return 0, fmt.Errorf("the writer wrote %d of %d shares, %d already stored, after %d failed attempts (last: %v)",
			s.Written, len(shares), s.Duplicates, s.FailedAttempts, s.LastError)
	}
	return elapsed, nil
}
