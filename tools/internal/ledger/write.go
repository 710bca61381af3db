package ledger

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// insertShares writes a batch in one statement, in buffer order so that
// ids follow acceptance order. ON CONFLICT makes a retried batch whose
// commit succeeded but whose answer was lost a no-op.
const insertShares = `
INSERT INTO shares (share_key, coin, address, worker, difficulty, network_difficulty, height, instance, submitted_at)
SELECT share_key, coin, address, worker, difficulty, network_difficulty, height, instance, submitted_at
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::float8[], $6::float8[], $7::int8[], $8::text[], $9::timestamptz[])
	WITH ORDINALITY AS b(share_key, coin, address, worker, difficulty, network_difficulty, height, instance, submitted_at, ord)
ORDER BY ord
ON CONFLICT (share_key) DO NOTHING`

// upsertWorkers moves first_seen and last_seen outwards only, so batches
// retried or written out of time order leave the right answer.
const upsertWorkers = `
INSERT INTO workers (coin, address, worker, first_seen, last_seen)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[])
ON CONFLICT (coin, address, worker) DO UPDATE SET
	first_seen = LEAST(workers.first_seen, EXCLUDED.first_seen),
	last_seen = GREATEST(workers.last_seen, EXCLUDED.last_seen)`

// insertBlock ties the block to the id of the share that found it, which
// is written first; ON CONFLICT makes a retry a no-op.
const insertBlock = `
INSERT INTO blocks (coin, height, hash, address, worker, reward, wallet, found_at, share_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, COALESCE(
	(SELECT id FROM shares WHERE share_key = $9),
	(SELECT max(id) FROM shares WHERE coin = $1)))
ON CONFLICT (hash) DO NOTHING`

// writeShares stores a batch and its workers in one transaction and
// reports how many shares were new.
func writeShares(ctx context.Context, pool *pgxpool.Pool, batch []Share) (inserted int64, err error) {
	n := len(batch)
	keys, coins, addresses, workers := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	instances, ats := make([]string, n), make([]time.Time, n)
	diffs, netDiffs, heights := make([]float64, n), make([]float64, n), make([]int64, n)
	for i, s := range batch {
		keys[i], coins[i], addresses[i], workers[i] = s.Key, s.Coin, s.Address, s.Worker
		instances[i], ats[i] = s.Instance, s.At
		diffs[i], netDiffs[i], heights[i] = s.Difficulty, s.NetworkDifficulty, s.Height
	}
	seen := workersSeen(batch)
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, insertShares, keys, coins, addresses, workers, diffs, netDiffs, heights, instances, ats)
		if err != nil {
			return fmt.Errorf("insert %d shares: %w", n, err)
		}
		inserted = tag.RowsAffected()
		if _, err := tx.Exec(ctx, upsertWorkers, seen.coins, seen.addresses, seen.workers, seen.first, seen.last); err != nil {
			return fmt.Errorf("upsert %d workers: %w", len(seen.coins), err)
		}
		return nil
	})
	return inserted, err
}

type workerRows struct {
	coins, addresses, workers []string
	first, last               []time.Time
}

// workersSeen folds a batch into one row per worker (an upsert may touch
// a row only once per statement), sorted so that instances writing at the
// same time lock rows in the same order and do not deadlock.
func workersSeen(batch []Share) workerRows {
	type key struct{ coin, address, worker string }
	type span struct{ first, last time.Time }
	spans := map[key]span{}
	for _, s := range batch {
		k := key{s.Coin, s.Address, s.Worker}
		sp, ok := spans[k]
		if !ok {
			sp = span{s.At, s.At}
		}
		if s.At.Before(sp.first) {
			sp.first = s.At
		}
		if s.At.After(sp.last) {
			sp.last = s.At
		}
		spans[k] = sp
	}
	keys := make([]key, 0, len(spans))
	for k := range spans {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b key) int {
		return cmp.Or(cmp.Compare(a.coin, b.coin), cmp.Compare(a.address, b.address), cmp.Compare(a.worker, b.worker))
	})
	var rows workerRows
	for _, k := range keys {
		rows.coins = append(rows.coins, k.coin)
		rows.addresses = append(rows.addresses, k.address)
		rows.workers = append(rows.workers, k.worker)
		rows.first = append(rows.first, spans[k].first)
		rows.last = append(rows.last, spans[k].last)
	}
	return rows
}

func writeBlock(ctx context.Context, pool *pgxpool.Pool, b Block) error {
	_, err := pool.Exec(ctx, insertBlock, b.Coin, b.Height, b.Hash, b.Address, b.Worker, b.Reward, b.Wallet, b.At, b.ShareKey)
	if err != nil {
		return fmt.Errorf("insert block %s at height %d: %w", b.Hash, b.Height, err)
	}
	return nil
}
