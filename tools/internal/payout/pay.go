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
	MaxOutputs   int   // outputs per payout transaction; larger batches are split
	// SendTimeout bounds the wallet's building of one payout's
	// transaction. An intent of an older poolctl (sendmany) younger than
	// twice this that the wallet does not know may still be on its way
	// to the wallet from a run that lost its locks; it is left for a
	// later run.
	SendTimeout time.Duration
	// AtStep is a test hook, called at each step by name (before-intent,
	// after-intent, after-build, after-send, during-record), always inside the run's
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

	// The wallet first learns every payout sent lately (an open intent's
	// transaction may spend the change of one), then open intents are
	// settled, then what is owed is paid.
	if err := knowSent(ctx, db, w, o, &res); err != nil {
		return res, err
	}
	if res.Waiting == "" {
		if err := settleOpen(ctx, db, w, o, &res); err != nil {
			return res, err
		}
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

// settleOpen finishes intents a crashed run left. One whose transaction
// was built is broadcast again, byte for byte, and recorded: whichever
// wallet instance this run reaches, those bytes pay once. One not built
// yet was given to no wallet, and is built and sent now. One left by an
// older poolctl (sendmany, no stored transaction) is looked for by the
// comment the sending wallet keeps; not found and old enough, it is
// built and sent now, under the same id.
func settleOpen(ctx context.Context, db *pgxpool.Pool, w Wallet, o PayOptions, res *PayResult) error {
	rows, err := db.Query(ctx, `SELECT id, extract(epoch FROM now() - created_at), tx_hex IS NULL FROM payouts WHERE coin = $1 AND status = 'intent'`, o.Coin)
	if err != nil {
		return fmt.Errorf("read open payouts: %w", err)
	}
	type open struct {
		id     string
		age    float64
		legacy bool
	}
	intents, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (open, error) {
		var x open
		return x, r.Scan(&x.id, &x.age, &x.legacy)
	})
	if err != nil {
		return fmt.Errorf("read open payouts: %w", err)
	}
	for _, in := range intents {
		items, err := intentItems(ctx, db, in.id)
		if err != nil {
			return err
		}
		var sent *Sent
		if in.legacy {
			txid, err := findByComment(ctx, w, in.id)
			if err != nil {
				return fmt.Errorf("payout %s was left open by an earlier run and the wallet cannot say whether it was sent: %w", in.id, err)
			}
			if txid == "" && time.Duration(in.age*float64(time.Second)) < 2*o.SendTimeout {
				res.Waiting = fmt.Sprintf("payout %s, left open %.0fs ago, is not in the wallet yet; a later run settles it", in.id, in.age)
				return nil
			}
			if txid != "" {
				sent, err = record(ctx, db, o, in.id, items, txid)
			} else {
				if _, err := db.Exec(ctx, `UPDATE payouts SET tx_hex = '' WHERE id = $1 AND status = 'intent' AND tx_hex IS NULL`, in.id); err != nil {
					return fmt.Errorf("payout %s: %w", in.id, err)
				}
				sent, err = send(ctx, db, w, o, in.id, items)
			}
			if err != nil {
				return err
			}
		} else if sent, err = send(ctx, db, w, o, in.id, items); err != nil {
			return err
		}
		if sent != nil {
			sent.Reconciled = true
			res.Payouts = append(res.Payouts, *sent)
		}
	}
	return nil
}

// rpcNotInWallet is Litecoin Core's RPC_INVALID_ADDRESS_OR_KEY, which
// gettransaction answers for a transaction the wallet does not know.
const rpcNotInWallet = -5

// rpcAlreadyInChain is RPC_VERIFY_ALREADY_IN_CHAIN: sendrawtransaction's
// answer for a transaction already confirmed.
const rpcAlreadyInChain = -27

// recentPayouts is how far back a run makes sure the wallet it pays
// from knows the payouts sent before.
const recentPayouts = 7 * 24 * time.Hour

// knowSent makes the wallet know every payout sent lately before it pays
// again: the instance that sent one may have died before relaying it, and
// a wallet that has not seen it would spend the same coins, so that one
// of the two payouts never confirms. Each transaction the wallet does not
// know is broadcast to it from the bytes stored with its payout. A
// transaction the wallet refuses, or holds as conflicted, stops new
// payouts, saying which.
func knowSent(ctx context.Context, db *pgxpool.Pool, w Wallet, o PayOptions, res *PayResult) error {
	rows, err := db.Query(ctx, `
		SELECT id, txid, tx_hex FROM payouts
		WHERE coin = $1 AND status = 'sent' AND coalesce(tx_hex, '') <> '' AND settled_at > now() - $2::interval
		ORDER BY settled_at, id`, o.Coin, recentPayouts.String())
	if err != nil {
		return fmt.Errorf("read recent payouts: %w", err)
	}
	type sentTx struct{ id, txid, hex string }
	recent, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (sentTx, error) {
		var x sentTx
		return x, r.Scan(&x.id, &x.txid, &x.hex)
	})
	if err != nil {
		return fmt.Errorf("read recent payouts: %w", err)
	}
	for _, p := range recent {
		var t walletTx
		err := w.Call(ctx, "gettransaction", []any{p.txid}, &t)
		switch {
		case err == nil && t.Confirmations < 0:
			res.Waiting = fmt.Sprintf("payout %s's transaction %s conflicts with another the wallet holds; no new payout until an operator looks", p.id, p.txid)
			return nil
		case err == nil:
			continue
		case chain.CodeOf(err) != rpcNotInWallet:
			return fmt.Errorf("ask the wallet about payout %s's transaction %s: %w", p.id, p.txid, err)
		}
		if err := broadcast(ctx, w, p.hex); err != nil {
			res.Waiting = fmt.Sprintf("payout %s's transaction %s, sent by another wallet instance, is refused by this one (%v); no new payout until it is", p.id, p.txid, err)
			return nil
		}
	}
	return nil
}

// broadcast gives the wallet's daemon a signed transaction; one already
// confirmed is not an error.
func broadcast(ctx context.Context, w Wallet, hexTx string) error {
	var got string
	err := w.Call(ctx, "sendrawtransaction", []any{hexTx}, &got)
	if chain.CodeOf(err) == rpcAlreadyInChain {
		return nil
	}
	return err
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
		sent, err := send(ctx, db, w, o, id, part)
		if err != nil {
			return err
		}
		if sent != nil {
			res.Payouts = append(res.Payouts, *sent)
		}
	}
	return nil
}

// batches splits what is due into transactions of at most max outputs,
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
		if _, err := tx.Exec(ctx, `INSERT INTO payouts (id, coin, total, tx_hex) VALUES ($1, $2, $3, '')`, id, coin, total); err != nil {
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

// send pays an intent: the wallet builds and signs its transaction
// without keeping or broadcasting it (build), the transaction is stored
// with the intent, then broadcast, then recorded with the balances it
// moves. Each step is safe to crash after: an intent without a
// transaction was given to no wallet and is built again; one with its
// transaction is broadcast again, which pays once, by any wallet
// instance holding the pool's keys.
func send(ctx context.Context, db *pgxpool.Pool, w Wallet, o PayOptions, id string, items []item) (*Sent, error) {
	txid, hexTx, settled, err := build(ctx, db, w, o, id, items)
	if err != nil || settled {
		return nil, err
	}
	if err := broadcast(ctx, w, hexTx); err != nil {
		// Confirmed already, and its outputs spent since: the daemon
		// answers "missing inputs", and the wallet knows it confirmed.
		var t walletTx
		if terr := w.Call(ctx, "gettransaction", []any{txid}, &t); terr != nil || t.Confirmations <= 0 {
			what := "did not answer sendrawtransaction for"
			if definitelyNotSent(err) {
				what = "refused"
			}
			return nil, fmt.Errorf("payout %s: the wallet %s its transaction %s (%w); it stays open, and the next run broadcasts the same transaction again", id, what, txid, err)
		}
	}
	o.atStep("after-send")
	return record(ctx, db, o, id, items, txid)
}

// build returns the intent's signed transaction, having the wallet build
// it the first time and storing it before anyone broadcasts it. settled:
// another run settled the intent meanwhile.
func build(ctx context.Context, db *pgxpool.Pool, w Wallet, o PayOptions, id string, items []item) (txid, hexTx string, settled bool, err error) {
	// With this intent open no other payout can be recorded: a run that
	// lost its locks may have recorded one since this run's knowSent,
	// from another instance, so the wallet is brought up to date again
	// before it may pick the coins to spend. (Before the transaction
	// below: the run's pool may hold no third connection.)
	var known PayResult
	if err := knowSent(ctx, db, w, o, &known); err != nil {
		return "", "", false, fmt.Errorf("payout %s: %w; nothing was sent, and the next run sends its intent", id, err)
	}
	if known.Waiting != "" {
		return "", "", false, fmt.Errorf("payout %s not built: %s", id, known.Waiting)
	}
	tx, err := db.Begin(ctx)
	if err != nil {
		return "", "", false, fmt.Errorf("payout %s: %w; nothing was sent, and the next run sends its intent", id, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	var status string
	if err := tx.QueryRow(ctx, `SELECT status, coalesce(txid, ''), coalesce(tx_hex, '') FROM payouts WHERE id = $1 FOR UPDATE NOWAIT`, id).Scan(&status, &txid, &hexTx); err != nil {
		return "", "", false, fmt.Errorf("lock payout %s: %w; the next run settles its intent", id, err)
	}
	if status != "intent" {
		return "", "", true, nil // settled by someone else meanwhile
	}
	if hexTx != "" {
		return txid, hexTx, false, nil
	}
	amounts := map[string]any{}
	for _, it := range items {
		amounts[it.address] = Coins(it.units, o.UnitsPerCoin)
	}
	var built struct {
		TxID     string `json:"txid"`
		Hex      string `json:"hex"`
		Complete bool   `json:"complete"`
	}
	buildCtx, cancel := context.WithTimeout(ctx, o.SendTimeout)
	// send's options: build and sign only; the wallet keeps nothing and
	// broadcasts nothing.
	err = w.Call(buildCtx, "send", []any{amounts, nil, "unset", nil, map[string]any{"add_to_wallet": false}}, &built)
	cancel()
	if err != nil {
		if !definitelyNotSent(err) {
			return "", "", false, fmt.Errorf("payout %s: the wallet did not answer send (%w); it only builds, so nothing was paid, and the next run builds it again", id, err)
		}
		// The wallet refused (too little to spend, a bad address):
		// the intent is cancelled, balances untouched, reason kept.
		if _, cerr := tx.Exec(ctx, `UPDATE payouts SET status = 'cancelled', note = $2, settled_at = now() WHERE id = $1`, id, err.Error()); cerr != nil {
			return "", "", false, fmt.Errorf("cancel payout %s: %w", id, cerr)
		}
		if cerr := tx.Commit(ctx); cerr != nil {
			return "", "", false, fmt.Errorf("cancel payout %s: %w", id, cerr)
		}
		return "", "", false, fmt.Errorf("payout %s refused by the wallet, nothing sent: %w", id, err)
	}
	if !built.Complete || built.Hex == "" || built.TxID == "" {
		return "", "", false, fmt.Errorf("payout %s: the wallet built a transaction it could not sign (complete %v); nothing was sent, and the next run builds it again", id, built.Complete)
	}
	if _, err := tx.Exec(ctx, `UPDATE payouts SET txid = $2, tx_hex = $3 WHERE id = $1`, id, built.TxID, built.Hex); err != nil {
		return "", "", false, fmt.Errorf("store payout %s's transaction: %w; nothing was sent, and the next run builds it again", id, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return "", "", false, fmt.Errorf("store payout %s's transaction: %w; nothing was sent, and the next run builds it again", id, err)
	}
	o.atStep("after-build")
	return built.TxID, built.Hex, false, nil
}

// record marks the intent sent with txid and moves its balances, in one
// transaction holding the intent's row.
func record(ctx context.Context, db *pgxpool.Pool, o PayOptions, id string, items []item, txid string) (*Sent, error) {
	tx, err := db.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("record payout %s (txid %s): %w; the next run records it", id, txid, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	var status string
	if err := tx.QueryRow(ctx, `SELECT status FROM payouts WHERE id = $1 FOR UPDATE NOWAIT`, id).Scan(&status); err != nil {
		return nil, fmt.Errorf("lock payout %s (txid %s): %w; the next run records it", id, txid, err)
	}
	if status != "intent" {
		return nil, nil // settled by someone else meanwhile
	}
	if _, err := tx.Exec(ctx, `UPDATE payouts SET status = 'sent', txid = $2, settled_at = now() WHERE id = $1`, id, txid); err != nil {
		return nil, fmt.Errorf("record payout %s (txid %s): %w; the next run records it", id, txid, err)
	}
	o.atStep("during-record")
	var total int64
	sort.Slice(items, func(i, k int) bool { return items[i].address < items[k].address })
	for _, it := range items {
		total += it.units
		tag, err := tx.Exec(ctx, `UPDATE balances SET owed = owed - $3, paid = paid + $3, updated_at = now() WHERE coin = $1 AND address = $2`, o.Coin, it.address, it.units)
		if err != nil {
			return nil, fmt.Errorf("record payout %s (txid %s): %w; the next run records it", id, txid, err)
		}
		if tag.RowsAffected() != 1 {
			return nil, fmt.Errorf("record payout %s (txid %s): no balance for %s", id, txid, it.address)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("record payout %s (txid %s): %w; the next run records it", id, txid, err)
	}
	return &Sent{ID: id, TxID: txid, Outputs: len(items), Units: total}, nil
}
