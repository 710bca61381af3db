package payout

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scryptpool/poolmicrocloud/tools/internal/chain"
)

// PayOptions are what a payout run pays with.
type PayOptions struct {
	Coin         string
	Network      string // to check miners' addresses
	UnitsPerCoin int64
	Minimum      int64 // units: smaller balances wait
	Reserve      int64 // units always left in the wallet (fees, safety)
	MaxOutputs   int   // outputs per sendmany; larger batches are split
	// SendTimeout bounds one sendmany. An intent younger than twice this
	// that the wallet does not know may still be on its way to the
	// wallet from a run that lost its locks; it is left for a later run.
	SendTimeout time.Duration
	// AtStep is a test hook, called at each step by name (before-intent,
	// after-intent, after-send, during-record), always inside the run's
	// advisory lock: tests kill the run there, or hold it until another
	// run has tried. nil in production.
	AtStep func(step string)
}

// PayResult is what a run did and what it left.
type PayResult struct {
	Payouts    []Sent            // sent (or found sent) by this run
	Held       map[string]string // address -> why it is not paid
	Waiting    string            // why owed balances were not paid, if any
	OwedUnits  int64             // still owed after the run
	OwedMiners int
}

// Sent is one payout transaction.
type Sent struct {
	ID         string
	TxID       string
	Outputs    int
	Units      int64
	Reconciled bool // a crashed run's intent, found sent or sent now
}

func (o PayOptions) atStep(step string) {
	if o.AtStep != nil {
		o.AtStep(step)
	}
}

// Pay settles what earlier runs left open, then pays every miner owed at
// least Minimum, within the wallet's spendable balance minus Reserve.
// The caller holds the run's Consul lock; Pay also takes a PostgreSQL
// advisory lock for the whole run, so two runs do not work on the same
// coin at once even when Consul's lock was lost. The advisory lock goes
// with its database session, and the run does not notice: should both be
// lost, the one open intent per coin, checked against the balances,
// still keeps a batch from being paid twice.
func Pay(ctx context.Context, db *pgxpool.Pool, w Wallet, o PayOptions) (PayResult, error) {
	res := PayResult{Held: map[string]string{}}
	conn, err := db.Acquire(ctx)
	if err != nil {
		return res, fmt.Errorf("database: connect: %w", err)
	}
	defer conn.Release()
	var locked bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, hashtext($2))`, payoutLockClass, o.Coin).Scan(&locked); err != nil {
		return res, fmt.Errorf("database: take the payout lock: %w", err)
	}
	if !locked {
		return res, errAdvisoryLockHeld
	}
	defer func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1, hashtext($2))`, payoutLockClass, o.Coin)
	}()

	if err := settleOpen(ctx, db, w, o, &res); err != nil {
		return res, err
	}
	if res.Waiting == "" {
		if err := payOwed(ctx, db, w, o, &res); err != nil {
			return res, err
		}
	}
	if res.OwedUnits, res.OwedMiners, err = owedSummary(ctx, db, o.Coin); err != nil {
		return res, err
	}
	rows, err := db.Query(ctx, `SELECT address, held_reason FROM balances WHERE coin = $1 AND held_reason <> ''`, o.Coin)
	if err != nil {
		return res, fmt.Errorf("read held balances: %w", err)
	}
	for rows.Next() {
		var a, why string
		if err := rows.Scan(&a, &why); err != nil {
			return res, err
		}
		res.Held[a] = why
	}
	return res, rows.Err()
}

// owedSummary is what the coin's miners are owed in all, and how many.
func owedSummary(ctx context.Context, db *pgxpool.Pool, coin string) (units int64, miners int, err error) {
	err = db.QueryRow(ctx, `SELECT coalesce(sum(owed), 0), count(*) FILTER (WHERE owed > 0) FROM balances WHERE coin = $1`, coin).
		Scan(&units, &miners)
	if err != nil {
		return 0, 0, fmt.Errorf("database: sum what is owed: %w", err)
	}
	return units, miners, nil
}

// Balance is what the pool owes one miner.
type Balance struct {
	Address string `json:"address"`
	Units   int64  `json:"units"`
}

// MaxOwing is how many pending balances a run records for status.
const MaxOwing = 20

// largestOwed are the largest pending balances of a coin.
func largestOwed(ctx context.Context, db *pgxpool.Pool, coin string, n int) ([]Balance, error) {
	rows, err := db.Query(ctx, `SELECT address, owed FROM balances WHERE coin = $1 AND owed > 0 ORDER BY owed DESC, address LIMIT $2`, coin, n)
	if err != nil {
		return nil, fmt.Errorf("database: read pending balances: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Balance])
	if err != nil {
		return nil, fmt.Errorf("database: read pending balances: %w", err)
	}
	return out, nil
}

// ErrBusy: another run of the job is in progress.
var ErrBusy = errors.New("another run is in progress")

// What turned a run away, each an ErrBusy. Three protections stand
// between two payout runs of a coin, and each must hold on its own: the
// job's Consul lock, the coin's advisory lock, and the one open intent
// per coin, whose batch must still be owed.
var (
	errConsulLockHeld   = fmt.Errorf("%w: it holds the job's Consul lock", ErrBusy)
	errAdvisoryLockHeld = fmt.Errorf("%w: it holds the coin's payout lock in PostgreSQL", ErrBusy)
	errIntentOpen       = fmt.Errorf("%w: it has a payout intent of the coin open", ErrBusy)
	errBatchPaid        = fmt.Errorf("%w: it paid this run's batch since this run read the balances", ErrBusy)
)

// payoutLockClass is the first key of the advisory lock ("PAYO").
const payoutLockClass int32 = 0x5041594f

// settleOpen finishes intents a crashed run left: found in the wallet by
// comment, they are recorded as sent; not found and old enough, they are
// sent now, under the same id.
func settleOpen(ctx context.Context, db *pgxpool.Pool, w Wallet, o PayOptions, res *PayResult) error {
	rows, err := db.Query(ctx, `SELECT id, extract(epoch FROM now() - created_at) FROM payouts WHERE coin = $1 AND status = 'intent'`, o.Coin)
	if err != nil {
		return fmt.Errorf("read open payouts: %w", err)
	}
	type open struct {
		id  string
		age float64
	}
	intents, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (open, error) {
		var x open
		return x, r.Scan(&x.id, &x.age)
	})
	if err != nil {
		return fmt.Errorf("read open payouts: %w", err)
	}
	for _, in := range intents {
		txid, err := findByComment(ctx, w, in.id)
		if err != nil {
			return fmt.Errorf("payout %s was left open by an earlier run and the wallet cannot say whether it was sent: %w", in.id, err)
		}
		if txid == "" && time.Duration(in.age*float64(time.Second)) < 2*o.SendTimeout {
			res.Waiting = fmt.Sprintf("payout %s, left open %.0fs ago, is not in the wallet yet; a later run settles it", in.id, in.age)
			return nil
		}
		items, err := intentItems(ctx, db, in.id)
		if err != nil {
			return err
		}
		sent, err := send(ctx, db, w, o, in.id, items, txid)
		if err != nil {
			return err
		}
		if sent != nil {
			sent.Reconciled = true
			res.Payouts = append(res.Payouts, *sent)
		}
	}
	return nil
}

type item struct {
	address string
	units   int64
}

func intentItems(ctx context.Context, db *pgxpool.Pool, id string) ([]item, error) {
	rows, err := db.Query(ctx, `SELECT address, amount FROM payout_items WHERE payout_id = $1 ORDER BY address`, id)
	if err != nil {
		return nil, fmt.Errorf("read payout %s: %w", id, err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (item, error) {
		var it item
		return it, r.Scan(&it.address, &it.units)
	})
}

// payOwed pays the balances due, batch by batch.
func payOwed(ctx context.Context, db *pgxpool.Pool, w Wallet, o PayOptions, res *PayResult) error {
	rows, err := db.Query(ctx, `
		SELECT address, owed FROM balances
		WHERE coin = $1 AND owed >= $2 AND held_reason = ''
		ORDER BY owed DESC, address`, o.Coin, o.Minimum)
	if err != nil {
		return fmt.Errorf("read balances: %w", err)
	}
	due, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (item, error) {
		var it item
		return it, r.Scan(&it.address, &it.units)
	})
	if err != nil {
		return fmt.Errorf("read balances: %w", err)
	}
	// An address the coin cannot pay is held with the reason, and the
	// rest are paid.
	valid := due[:0]
	for _, it := range due {
		if _, err := chain.OutputScript(it.address, o.Network); err != nil {
			if err := hold(ctx, db, o.Coin, it.address, "not a "+o.Network+" address: "+err.Error()); err != nil {
				return err
			}
			continue
		}
		valid = append(valid, it)
	}
	if len(valid) == 0 {
		return nil
	}
	available, err := spendable(ctx, w, o.UnitsPerCoin)
	if err != nil {
		return fmt.Errorf("ask the wallet what it can spend: %w", err)
	}
	available -= o.Reserve
	var batch []item
	var total, short int64
	for _, it := range valid {
		if total+it.units > available {
			short += it.units
			continue
		}
		batch = append(batch, it)
		total += it.units
	}
	if short > 0 {
		res.Waiting = fmt.Sprintf("insufficient funds: %s owed beyond what the wallet can spend (%s after a reserve of %s)",
			Coins(short, o.UnitsPerCoin), Coins(max(available, 0), o.UnitsPerCoin), Coins(o.Reserve, o.UnitsPerCoin))
	}
	for _, part := range batches(batch, max(o.MaxOutputs, 1), o.Network) {
		o.atStep("before-intent")
		id, err := writeIntent(ctx, db, o.Coin, part)
		if err != nil {
			return err
		}
		o.atStep("after-intent")
		sent, err := send(ctx, db, w, o, id, part, "")
		if err != nil {
			return err
		}
		if sent != nil {
			res.Payouts = append(res.Payouts, *sent)
		}
	}
	return nil
}

// batches splits what is due into sendmany calls of at most max outputs,
// in order, none paying one output script twice: balances kept under two
// spellings of one script (an upper-case bech32 address, Bitcoin's P2SH
// version) are one destination to the wallet, which refuses the whole
// call as a "duplicated address"; in two calls each is paid.
func batches(items []item, max int, network string) [][]item {
	var out [][]item
	var scripts []map[string]bool
	for _, it := range items {
		script, _ := chain.OutputScript(it.address, network) // checked before
		placed := false
		for i := range out {
			if len(out[i]) < max && !scripts[i][string(script)] {
				out[i] = append(out[i], it)
				scripts[i][string(script)] = true
				placed = true
				break
			}
		}
		if !placed {
			out = append(out, []item{it})
			scripts = append(scripts, map[string]bool{string(script): true})
		}
	}
	return out
}

func hold(ctx context.Context, db *pgxpool.Pool, coin, address, why string) error {
	if _, err := db.Exec(ctx, `UPDATE balances SET held_reason = $3, updated_at = now() WHERE coin = $1 AND address = $2`, coin, address, why); err != nil {
		return fmt.Errorf("hold %s: %w", address, err)
	}
	return nil
}

// writeIntent records a batch before anything is sent. The unique index
// on open intents refuses a second one for the coin. The batch was read
// before, and a run that lost its locks may have paid it since: once its
// intent is the only open one (an insert that meets another run's intent
// waits for that run to record or cancel it), what each miner is owed
// can only grow until this intent is sent, so a batch that pays anyone
// more than that is refused.
func writeIntent(ctx context.Context, db *pgxpool.Pool, coin string, items []item) (string, error) {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	id := "payout-" + coin + "-" + hex.EncodeToString(b[:])
	var total int64
	for _, it := range items {
		total += it.units
	}
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO payouts (id, coin, total) VALUES ($1, $2, $3)`, id, coin, total); err != nil {
			return err
		}
		for _, it := range items {
			if _, err := tx.Exec(ctx, `INSERT INTO payout_items (payout_id, address, amount) VALUES ($1, $2, $3)`, id, it.address, it.units); err != nil {
				return err
			}
		}
		var overpaid int
		if err := tx.QueryRow(ctx, `
			SELECT count(*) FROM payout_items i
			LEFT JOIN balances b ON b.coin = $2 AND b.address = i.address
			WHERE i.payout_id = $1 AND coalesce(b.owed, 0) < i.amount`, id, coin).Scan(&overpaid); err != nil {
			return err
		}
		if overpaid > 0 {
			return errBatchPaid
		}
		return nil
	})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.ConstraintName == "payouts_one_open_intent" {
		return "", fmt.Errorf("record payout intent: %w", errIntentOpen)
	}
	if err != nil {
		return "", fmt.Errorf("record payout intent: %w", err)
	}
	return id, nil
}

// send asks the wallet to pay an intent (unless txid says it already
// did) and records it in the transaction that moves the balances. The
// intent's row stays locked while the wallet is asked, so no other run
// can settle it meanwhile.
func send(ctx context.Context, db *pgxpool.Pool, w Wallet, o PayOptions, id string, items []item, txid string) (*Sent, error) {
	tx, err := db.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("payout %s: %w; nothing was sent, and the next run sends its intent", id, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	var status string
	if err := tx.QueryRow(ctx, `SELECT status FROM payouts WHERE id = $1 FOR UPDATE NOWAIT`, id).Scan(&status); err != nil {
		return nil, fmt.Errorf("lock payout %s: %w; nothing was sent, and the next run settles its intent", id, err)
	}
	if status != "intent" {
		return nil, nil // settled by someone else meanwhile
	}
	reconciled := txid != ""
	if txid == "" {
		amounts := map[string]any{}
		for _, it := range items {
			amounts[it.address] = Coins(it.units, o.UnitsPerCoin)
		}
		sendCtx, cancel := context.WithTimeout(ctx, o.SendTimeout)
		err := w.Call(sendCtx, "sendmany", []any{"", amounts, 1, id}, &txid)
		cancel()
		if err != nil {
			if !definitelyNotSent(err) {
				return nil, fmt.Errorf("payout %s: the wallet did not answer sendmany (%w); it may have sent it: the next run asks the wallet before doing anything", id, err)
			}
			// The wallet refused: nothing was sent. The intent is
			// cancelled (balances untouched) and the reason kept.
			if _, cerr := tx.Exec(ctx, `UPDATE payouts SET status = 'cancelled', note = $2, settled_at = now() WHERE id = $1`, id, err.Error()); cerr != nil {
				return nil, fmt.Errorf("cancel payout %s: %w", id, cerr)
			}
			if cerr := tx.Commit(ctx); cerr != nil {
				return nil, fmt.Errorf("cancel payout %s: %w", id, cerr)
			}
			return nil, fmt.Errorf("payout %s refused by the wallet, nothing sent: %w", id, err)
		}
		o.atStep("after-send")
	}
	if _, err := tx.Exec(ctx, `UPDATE payouts SET status = 'sent', txid = $2, settled_at = now() WHERE id = $1`, id, txid); err != nil {
		return nil, fmt.Errorf("record payout %s (txid %s): %w; the next run finds it in the wallet and records it", id, txid, err)
	}
	o.atStep("during-record")
	var total int64
	sort.Slice(items, func(i, k int) bool { return items[i].address < items[k].address })
	for _, it := range items {
		total += it.units
		tag, err := tx.Exec(ctx, `UPDATE balances SET owed = owed - $3, paid = paid + $3, updated_at = now() WHERE coin = $1 AND address = $2`, o.Coin, it.address, it.units)
		if err != nil {
			return nil, fmt.Errorf("record payout %s (txid %s): %w; the next run finds it in the wallet and records it", id, txid, err)
		}
		if tag.RowsAffected() != 1 {
			return nil, fmt.Errorf("record payout %s (txid %s): no balance for %s", id, txid, it.address)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("record payout %s (txid %s): %w; the next run finds it in the wallet and records it", id, txid, err)
	}
	return &Sent{ID: id, TxID: txid, Outputs: len(items), Units: total, Reconciled: reconciled}, nil
}
