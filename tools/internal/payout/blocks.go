package payout

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scryptpool/poolmicrocloud/tools/internal/chain"
)

// SpendableDepth is the depth at which Litecoin Core's wallet spends a
// coinbase (COINBASE_MATURITY+1; category "generate", "immature" before):
// no block is credited before it, whatever the pool's confirmations say.
const SpendableDepth = 101

// TrackOptions are what block tracking runs with.
type TrackOptions struct {
	Coin          string
	Confirmations int64 // a block's reward is credited at this depth, once its wallet can spend it
	FeePercent    float64
	Scheme        Scheme
	UnitsPerCoin  int64
	// OrphanDepth: a block is orphaned only on evidence: the wallet is
	// synced and has peers, its main chain is this many blocks past the
	// block's height, and holds another block at that height (a shorter
	// branch can still win a race for a block or two, and a wallet that
	// lags or is cut off knows nothing yet).
	OrphanDepth int64
}

// TrackResult counts what a run did.
type TrackResult struct {
	Pending, Confirmed, Orphaned int
	Credited                     int64 // units credited to miners
}

// TrackBlocks follows every pending block of the coin through the
// wallet that holds the pool address's key: a block whose coinbase has
// Confirmations is credited to miners once; one the chain left behind is
// orphaned (its shares stay for the next block's window).
func TrackBlocks(ctx context.Context, db *pgxpool.Pool, w Wallet, o TrackOptions) (TrackResult, error) {
	var res TrackResult
	rows, err := db.Query(ctx, `SELECT id, height, hash FROM blocks WHERE coin = $1 AND status = 'pending' ORDER BY height, id`, o.Coin)
	if err != nil {
		return res, fmt.Errorf("read pending blocks: %w", err)
	}
	type pending struct {
		id, height int64
		hash       string
	}
	blocks, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (pending, error) {
		var p pending
		return p, r.Scan(&p.id, &p.height, &p.hash)
	})
	if err != nil {
		return res, fmt.Errorf("read pending blocks: %w", err)
	}
	var view *chainView
	for _, b := range blocks {
		state, err := blockState(ctx, w, b.hash)
		if err != nil {
			return res, fmt.Errorf("block %d (%s): %w", b.height, b.hash, err)
		}
		if state.unknown || state.confirmations < 0 || state.category == "orphan" {
			if view == nil {
				if view, err = viewChain(ctx, w); err != nil {
					return res, err
				}
			}
			why, err := view.orphaned(ctx, w, b.height, b.hash, o.OrphanDepth)
			if err != nil {
				return res, fmt.Errorf("block %d (%s): %w", b.height, b.hash, err)
			}
			if why != "" {
				if err := orphan(ctx, db, b.id, why); err != nil {
					return res, err
				}
				res.Orphaned++
				continue
			}
			res.Pending++
			continue
		}
		switch {
		// The wallet's word too: Core spends a coinbase only at
		// SpendableDepth (category "generate"; it is "immature" at 100). A reward credited before it could be spent
		// owes miners coins the wallet cannot send: a miner owed more
		// than the wallet can spend waits (one miner, all of it).
		case state.confirmations >= o.Confirmations && state.category == "generate":
			reward, err := Units(state.amount, o.UnitsPerCoin)
			if err != nil {
				return res, fmt.Errorf("block %d's coinbase: %w", b.height, err)
			}
			var split Split
			var credited bool
			err = pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
				split, credited, err = CreditBlock(ctx, tx, b.id, reward, o.FeePercent, o.Scheme, state.confirmations)
				return err
			})
			if err != nil {
				return res, err
			}
			if credited {
				res.Confirmed++
				for _, u := range split.Credits {
					res.Credited += u
				}
			}
		default:
			res.Pending++
			if _, err := db.Exec(ctx, `UPDATE blocks SET confirmations = $2 WHERE id = $1 AND status = 'pending'`, b.id, state.confirmations); err != nil {
				return res, fmt.Errorf("record block %d's confirmations: %w", b.height, err)
			}
		}
	}
	return res, nil
}

// chainView is what the wallet knows of the chain, asked once a run.
type chainView struct {
	tip, headers int64
	ibd          bool
	peers        int
}

func viewChain(ctx context.Context, w Wallet) (*chainView, error) {
	var info chain.BlockchainInfo
	if err := w.Call(ctx, "getblockchaininfo", nil, &info); err != nil {
		return nil, fmt.Errorf("ask the wallet for its chain: %w", err)
	}
	var net struct {
		Connections int `json:"connections"`
	}
	if err := w.Call(ctx, "getnetworkinfo", nil, &net); err != nil {
		return nil, fmt.Errorf("ask the wallet for its peers: %w", err)
	}
	return &chainView{tip: info.Blocks, headers: info.Headers, ibd: info.InitialBlockDownload, peers: net.Connections}, nil
}

// orphaned is why the block at height with hash is orphaned, or "" while
// there is no evidence that it is: a wallet that lags, downloads the
// chain or has no peer may yet learn of it.
func (v *chainView) orphaned(ctx context.Context, w Wallet, height int64, hash string, depth int64) (string, error) {
	if v.ibd || v.headers > v.tip || v.peers == 0 || v.tip < height+max(depth, 1) {
		return "", nil
	}
	var main string
	if err := w.Call(ctx, "getblockhash", []any{height}, &main); err != nil {
		return "", fmt.Errorf("getblockhash %d: %w", height, err)
	}
	if main == hash {
		return "", nil
	}
	return fmt.Sprintf("height %d holds block %s in the main chain, %d blocks deep", height, main, v.tip-height+1), nil
}

func orphan(ctx context.Context, db *pgxpool.Pool, id int64, why string) error {
	if _, err := db.Exec(ctx, `UPDATE blocks SET status = 'orphaned', confirmations = -1, note = $2 WHERE id = $1 AND status = 'pending'`, id, why); err != nil {
		return fmt.Errorf("mark block %d orphaned: %w", id, err)
	}
	return nil
}

type coinbaseState struct {
	unknown       bool
	confirmations int64
	category      string // generate, immature, orphan
	amount        json.Number
}

// blockState reads the block's depth from the chain and its coinbase's
// category and amount from the wallet, which knows the coinbase only if
// it pays the wallet's key.
func blockState(ctx context.Context, w Wallet, hash string) (coinbaseState, error) {
	var block struct {
		Confirmations int64    `json:"confirmations"`
		Tx            []string `json:"tx"`
	}
	err := w.Call(ctx, "getblock", []any{hash, 1}, &block)
	if chain.CodeOf(err) == -5 { // RPC_INVALID_ADDRESS_OR_KEY: block not found
		return coinbaseState{unknown: true}, nil
	}
	if err != nil {
		return coinbaseState{}, fmt.Errorf("getblock: %w", err)
	}
	st := coinbaseState{confirmations: block.Confirmations}
	if block.Confirmations < 0 {
		// Not in the daemon's main chain: one it stored but never
		// connected (another block at that height came first) paid
		// nothing its wallet saw. Whether it is orphaned is for the
		// chain to say.
		return st, nil
	}
	if len(block.Tx) == 0 {
		return st, fmt.Errorf("getblock listed no transactions")
	}
	var tx walletTx
	err = w.Call(ctx, "gettransaction", []any{block.Tx[0], true}, &tx)
	if chain.CodeOf(err) == -5 {
		return st, fmt.Errorf("the wallet does not know the coinbase %s: it does not pay this wallet's pool address", block.Tx[0])
	}
	if err != nil {
		return st, fmt.Errorf("gettransaction %s: %w", block.Tx[0], err)
	}
	for _, d := range tx.Details {
		st.category = d.Category
		st.amount = d.Amount
	}
	if tx.Confirmations < st.confirmations || st.confirmations < 0 {
		st.confirmations = tx.Confirmations
	}
	return st, nil
}
