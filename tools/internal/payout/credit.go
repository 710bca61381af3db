package payout

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Scheme picks the shares a block's reward is divided by.
type Scheme struct {
	// Name is "pplns" or "proportional".
	Name string
	// Window, for PPLNS, is N: the last shares whose difficulty adds up
	// to N times the block's network difficulty share the reward.
	Window float64
}

// Querier is what both a pool and a transaction offer.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// WindowStart returns the id of the first share of the block ending at
// share shareID: the shares from it to shareID divide the block's reward.
//
// PPLNS: walking back from the block's share on the (coin, id) index, a
// running sum finds the first share of the window and the scan stops
// there, touching only the window's rows however many shares the table
// holds. Fewer shares than the window: all of them (0).
//
// Proportional: the shares since the previous block of the coin that was
// not orphaned.
func WindowStart(ctx context.Context, q Querier, coin string, shareID int64, networkDifficulty float64, s Scheme) (int64, error) {
	var from int64
	switch s.Name {
	case "pplns":
		window := s.Window * networkDifficulty
		err := q.QueryRow(ctx, `
			SELECT id FROM (
				SELECT id, sum(difficulty) OVER (ORDER BY id DESC ROWS UNBOUNDED PRECEDING) AS running
				FROM shares WHERE coin = $1 AND id <= $2
				ORDER BY id DESC
			) w WHERE running >= $3 LIMIT 1`, coin, shareID, window).Scan(&from)
		if errors.Is(err, pgx.ErrNoRows) {
			return 0, nil
		} else if err != nil {
			return 0, fmt.Errorf("find the PPLNS window: %w", err)
		}
	case "proportional":
		err := q.QueryRow(ctx, `
			SELECT coalesce(max(share_id), 0) + 1 FROM blocks
			WHERE coin = $1 AND share_id < $2 AND status <> 'orphaned'`, coin, shareID).Scan(&from)
		if err != nil {
			return 0, fmt.Errorf("find the round's first share: %w", err)
		}
	default:
		return 0, fmt.Errorf("unknown payout scheme %q", s.Name)
	}
	return from, nil
}

// weightsFor returns, per address, the share difficulty that block
// (ending at share shareID) is divided by: one range aggregate over the
// window WindowStart finds.
func weightsFor(ctx context.Context, q Querier, coin string, shareID int64, networkDifficulty float64, s Scheme) ([]Weight, error) {
	from, err := WindowStart(ctx, q, coin, shareID, networkDifficulty, s)
	if err != nil {
		return nil, err
	}
	rows, err := q.Query(ctx, `
		SELECT address, sum(difficulty) FROM shares
		WHERE coin = $1 AND id >= $2 AND id <= $3
		GROUP BY address`, coin, from, shareID)
	if err != nil {
		return nil, fmt.Errorf("sum the window's shares: %w", err)
	}
	weights, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Weight, error) {
		var w Weight
		err := r.Scan(&w.Address, &w.Difficulty)
		return w, err
	})
	if err != nil {
		return nil, fmt.Errorf("sum the window's shares: %w", err)
	}
	return weights, nil
}

// CreditBlock divides a confirmed block's reward among its window's
// miners and marks it confirmed, in one transaction that only a block
// still pending can enter: a block is credited once, however many runs
// see it mature.
func CreditBlock(ctx context.Context, tx pgx.Tx, blockID int64, reward int64, feePercent float64, s Scheme, confirmations int64) (Split, bool, error) {
	var coin string
	var shareID *int64
	var status string
	err := tx.QueryRow(ctx, `SELECT coin, share_id, status FROM blocks WHERE id = $1 FOR UPDATE`, blockID).Scan(&coin, &shareID, &status)
	if err != nil {
		return Split{}, false, fmt.Errorf("lock block %d: %w", blockID, err)
	}
	if status != "pending" {
		return Split{}, false, nil
	}
	var weights []Weight
	if shareID != nil {
		var netDiff float64
		if err := tx.QueryRow(ctx, `SELECT network_difficulty FROM shares WHERE id = $1`, *shareID).Scan(&netDiff); err != nil {
			return Split{}, false, fmt.Errorf("block %d's share %d: %w", blockID, *shareID, err)
		}
		if weights, err = weightsFor(ctx, tx, coin, *shareID, netDiff, s); err != nil {
			return Split{}, false, err
		}
	}
	var carried int64
	if err := tx.QueryRow(ctx, `
		INSERT INTO carry (coin, units) VALUES ($1, 0)
		ON CONFLICT (coin) DO UPDATE SET units = carry.units
		RETURNING units`, coin).Scan(&carried); err != nil {
		return Split{}, false, fmt.Errorf("read the carried remainder: %w", err)
	}
	split, err := SplitReward(reward, carried, feePercent, weights)
	if err != nil {
		return Split{}, false, err
	}
	// Two statements whatever the number of miners: a statement per
	// miner was most of the time for 10,000 of them.
	addresses := make([]string, 0, len(split.Credits))
	units := make([]int64, 0, len(split.Credits))
	for addr, u := range split.Credits {
		addresses = append(addresses, addr)
		units = append(units, u)
	}
	batch := &pgx.Batch{}
	batch.Queue(`INSERT INTO credits (block_id, coin, address, amount) SELECT $1, $2, a, u FROM unnest($3::text[], $4::bigint[]) AS t(a, u)`,
		blockID, coin, addresses, units)
	batch.Queue(`
		INSERT INTO balances (coin, address, owed) SELECT $1, a, u FROM unnest($2::text[], $3::bigint[]) AS t(a, u)
		ON CONFLICT (coin, address) DO UPDATE SET owed = balances.owed + excluded.owed, updated_at = now()`, coin, addresses, units)
	batch.Queue(`UPDATE carry SET units = $2 WHERE coin = $1`, coin, split.Carry)
	batch.Queue(`UPDATE blocks SET status = 'confirmed', reward = $2, confirmations = $3, credited_at = now(), note = '' WHERE id = $1`,
		blockID, reward, confirmations)
	if err := tx.SendBatch(ctx, batch).Close(); err != nil {
		return Split{}, false, fmt.Errorf("credit block %d: %w", blockID, err)
	}
	return split, true, nil
}
