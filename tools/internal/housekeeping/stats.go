// Package housekeeping is the pool's periodic chores besides payouts:
// rolling shares up into hourly statistics, pruning shares no payout can
// need any more, and backing up the database and the wallets.
package housekeeping

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scryptpool/poolmicrocloud/tools/internal/payout"
)

// CoinScheme is a coin and how its blocks are divided: what pruning must
// keep.
type CoinScheme struct {
	Coin   string
	Scheme payout.Scheme
}

// StatsOptions tune the roll-up and the pruning.
type StatsOptions struct {
	Coins []CoinScheme
	// Recount: hours younger than this are counted again at every run,
	// because shares can reach the database late (the stratum server
	// buffers them through a database outage). Older hours are final.
	Recount time.Duration
	// FutureWindows: the next block's PPLNS window is estimated from the
	// newest share at this many times the configured window, as the
	// network difficulty may rise before the block is found.
	FutureWindows float64
	// MinAge: shares younger than this are never pruned.
	MinAge time.Duration
	// BatchRows: shares deleted per statement, so pruning a backlog never
	// holds long locks against the stratum servers' inserts.
	BatchRows int
	Now       func() time.Time
}

// DefaultStatsOptions are what the stats job runs with.
func DefaultStatsOptions(coins []CoinScheme) StatsOptions {
	return StatsOptions{Coins: coins, Recount: 2 * time.Hour, FutureWindows: 2, MinAge: 24 * time.Hour, BatchRows: 50_000, Now: time.Now}
}

// CoinStats is what one run did for a coin.
type CoinStats struct {
	Coin string
	// CountedFrom: the hours from here on were counted (again).
	CountedFrom time.Time
	// CountedUntil: hours before it are final (their shares may go).
	CountedUntil time.Time
	Hours        int
	Shares       int64
	// KeptFrom: shares from this id on are kept, and why.
	KeptFrom int64
	KeptWhy  string
	Pruned   int64
}

// Stats rolls each coin's shares up into stats_hourly and prunes the
// shares that neither statistics nor any payout can need.
func Stats(ctx context.Context, db *pgxpool.Pool, o StatsOptions) ([]CoinStats, error) {
	var out []CoinStats
	for _, c := range o.Coins {
		s, err := rollUp(ctx, db, c.Coin, o)
		if err != nil {
			return out, err
		}
		if err := prune(ctx, db, c, o, &s); err != nil {
			return append(out, s), err
		}
		out = append(out, s)
	}
	return out, nil
}

// statsLockClass is the first key of the roll-up's advisory lock ("STAT").
const statsLockClass int32 = 0x53544154

// rollUp counts again, in one transaction, every hour from the first one
// not yet final: the hours' rows are replaced, never added to, so a run
// that dies half-way or runs twice counts each share once.
func rollUp(ctx context.Context, db *pgxpool.Pool, coin string, o StatsOptions) (CoinStats, error) {
	s := CoinStats{Coin: coin}
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, statsLockClass, coin); err != nil {
			return fmt.Errorf("take the roll-up lock: %w", err)
		}
		var from *time.Time
		err := tx.QueryRow(ctx, `SELECT counted_until FROM stats_rollup WHERE coin = $1`, coin).Scan(&from)
		if errors.Is(err, pgx.ErrNoRows) {
			err = tx.QueryRow(ctx, `SELECT date_trunc('hour', min(submitted_at), 'UTC') FROM shares WHERE coin = $1`, coin).Scan(&from)
		}
		if err != nil {
			return fmt.Errorf("find the first hour to count: %w", err)
		}
		if from == nil {
			return nil // no shares yet
		}
		s.CountedFrom = from.UTC()
		if _, err := tx.Exec(ctx, `DELETE FROM stats_hourly WHERE coin = $1 AND hour >= $2`, coin, *from); err != nil {
			return fmt.Errorf("clear the hours to count again: %w", err)
		}
		err = tx.QueryRow(ctx, `
			WITH counted AS (
				INSERT INTO stats_hourly (coin, address, hour, shares, difficulty)
				SELECT coin, address, date_trunc('hour', submitted_at, 'UTC'), count(*), sum(difficulty)
				FROM shares WHERE coin = $1 AND submitted_at >= $2
				GROUP BY coin, address, date_trunc('hour', submitted_at, 'UTC')
				RETURNING hour, shares
			)
			SELECT count(DISTINCT hour), coalesce(sum(shares), 0) FROM counted`, coin, *from).Scan(&s.Hours, &s.Shares)
		if err != nil {
			return fmt.Errorf("count shares by hour: %w", err)
		}
		final := o.Now().UTC().Add(-o.Recount).Truncate(time.Hour)
		if final.Before(*from) {
			final = *from
		}
		_, err = tx.Exec(ctx, `
			INSERT INTO stats_rollup (coin, counted_until) VALUES ($1, $2)
			ON CONFLICT (coin) DO UPDATE SET counted_until = excluded.counted_until`, coin, final)
		if err != nil {
			return fmt.Errorf("keep where counting stopped: %w", err)
		}
		s.CountedUntil = final
		return nil
	})
	if err != nil {
		return s, fmt.Errorf("%s statistics: %w", coin, err)
	}
	return s, nil
}

// prune deletes a coin's shares that are older than every window a
// payout may still read, counted in final hours, and older than MinAge.
func prune(ctx context.Context, db *pgxpool.Pool, c CoinScheme, o StatsOptions, s *CoinStats) error {
	keep, why, err := keepFrom(ctx, db, c, o)
	if err != nil {
		return fmt.Errorf("%s pruning: %w", c.Coin, err)
	}
	s.KeptFrom, s.KeptWhy = keep, why
	if keep <= 1 || s.CountedUntil.IsZero() {
		return nil
	}
	cutoff := o.Now().UTC().Add(-o.MinAge)
	if s.CountedUntil.Before(cutoff) {
		cutoff = s.CountedUntil
	}
	for {
		tag, err := db.Exec(ctx, `
			DELETE FROM shares WHERE id IN (
				SELECT id FROM shares WHERE coin = $1 AND id < $2 AND submitted_at < $3
				ORDER BY id LIMIT $4)`, c.Coin, keep, cutoff, o.BatchRows)
		if err != nil {
			return fmt.Errorf("%s pruning: delete old shares: %w", c.Coin, err)
		}
		s.Pruned += tag.RowsAffected()
		if tag.RowsAffected() < int64(o.BatchRows) {
			return nil
		}
	}
}

// keepFrom is the first share any payout may still read: the earliest
// window of a block still pending (it may yet be credited), and the
// window of the next block, estimated from the newest share.
func keepFrom(ctx context.Context, db *pgxpool.Pool, c CoinScheme, o StatsOptions) (int64, string, error) {
	// anchor is a share a window ends at, and how far back it reaches.
	type anchor struct {
		shareID int64
		netDiff float64
		scheme  payout.Scheme
		why     string
	}
	var anchors []anchor
	rows, err := db.Query(ctx, `
		SELECT b.share_id, s.network_difficulty, b.height FROM blocks b LEFT JOIN shares s ON s.id = b.share_id
		WHERE b.coin = $1 AND b.status = 'pending' AND b.share_id IS NOT NULL`, c.Coin)
	if err != nil {
		return 0, "", fmt.Errorf("read pending blocks: %w", err)
	}
	var missing *int64
	for rows.Next() {
		var a anchor
		var netDiff *float64
		var height int64
		if err := rows.Scan(&a.shareID, &netDiff, &height); err != nil {
			rows.Close()
			return 0, "", err
		}
		if netDiff == nil {
			missing = &height
			continue
		}
		a.netDiff, a.scheme = *netDiff, c.Scheme
		a.why = fmt.Sprintf("the window of pending block %d", height)
		anchors = append(anchors, a)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, "", fmt.Errorf("read pending blocks: %w", err)
	}
	if missing != nil {
		// Its window cannot be found without its share: keep everything
		// rather than guess.
		return 0, fmt.Sprintf("pending block %d's share is missing, nothing pruned", *missing), nil
	}
	var newest anchor
	err = db.QueryRow(ctx, `SELECT id, network_difficulty FROM shares WHERE coin = $1 ORDER BY id DESC LIMIT 1`, c.Coin).
		Scan(&newest.shareID, &newest.netDiff)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, "no shares", nil
	}
	if err != nil {
		return 0, "", fmt.Errorf("read the newest share: %w", err)
	}
	newest.scheme = c.Scheme
	if newest.scheme.Name == "pplns" {
		newest.scheme.Window *= o.FutureWindows
		newest.why = fmt.Sprintf("the next block's window (%g x the network difficulty)", newest.scheme.Window)
	} else {
		newest.why = "the current round"
		newest.shareID++ // the round after the newest non-orphaned block, up to a block not found yet
	}
	keep, why := newest.shareID, ""
	for _, a := range append(anchors, newest) {
		from, err := payout.WindowStart(ctx, db, c.Coin, a.shareID, a.netDiff, a.scheme)
		if err != nil {
			return 0, "", err
		}
		if why == "" || from < keep {
			keep, why = from, a.why
		}
	}
	return keep, why, nil
}
