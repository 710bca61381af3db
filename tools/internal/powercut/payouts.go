package powercut

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	nomadapi "github.com/hashicorp/nomad/api"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scryptpool/poolmicrocloud/tools/internal/chain"
	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
	"github.com/scryptpool/poolmicrocloud/tools/internal/failover"
	"github.com/scryptpool/poolmicrocloud/tools/internal/jobspec"
)

// rpcWalletNotFound is Litecoin Core's RPC_WALLET_NOT_FOUND: no wallet
// is loaded.
const rpcWalletNotFound = -18

// Payouts is what the ledger and the wallets say of the coin's payouts
// after the power came back.
type Payouts struct {
	// Sent payouts are recorded sent; Open intents are not settled yet.
	Sent, Open int
	// Doubled are transactions a wallet sent that are no payout's
	// recorded transaction: a payout paid a second time (or coins
	// leaving the pool's wallet otherwise). Every instance holds the
	// pool's keys, so each lists every send it has seen to an address
	// that is not the pool's own (the miner's: MinerAddress).
	Doubled int
	// Lost are payouts recorded sent whose transaction no wallet
	// instance knows, and miners whose ledger does not add up (owed and
	// paid beside what was credited and what the sent payouts carried).
	Lost int
	// Unknown are the lost payouts' transactions, and Asked the wallet
	// instances that listed theirs (where a lost payout was looked for).
	Unknown, Asked []string
	// Seen is, when a payout is lost, what each instance asked says of
	// its wallet, its chain and each lost transaction.
	Seen []string
}

// CheckPayouts compares the ledger's payouts with the wallets'.
func (p *Pool) CheckPayouts(ctx context.Context) (Payouts, error) {
	var out Payouts
	db, err := p.open()
	if err != nil {
		return out, err
	}
	defer db.Close()
	if err := db.QueryRow(ctx, `SELECT count(*) FILTER (WHERE status = 'sent'), count(*) FILTER (WHERE status = 'intent') FROM payouts WHERE coin = $1`, p.Coin).
		Scan(&out.Sent, &out.Open); err != nil {
		return out, fmt.Errorf("count payouts: %w", err)
	}
	var unbalanced int
	if err := db.QueryRow(ctx, `
		SELECT count(*) FROM balances b
		WHERE b.coin = $1 AND (
			b.owed + b.paid <> coalesce((SELECT sum(c.amount) FROM credits c WHERE c.coin = b.coin AND c.address = b.address), 0)
			OR b.paid <> coalesce((SELECT sum(i.amount) FROM payout_items i JOIN payouts o ON o.id = i.payout_id
				WHERE o.status = 'sent' AND o.coin = b.coin AND i.address = b.address), 0))`, p.Coin).Scan(&unbalanced); err != nil {
		return out, fmt.Errorf("compare balances with credits and payouts: %w", err)
	}
	out.Lost += unbalanced
	// Sent payouts' transactions, and those of open intents (built and
	// perhaps broadcast, not recorded yet: no second payment).
	rows, err := db.Query(ctx, `SELECT id, coalesce(txid, ''), status FROM payouts WHERE coin = $1 AND status IN ('sent', 'intent')`, p.Coin)
	if err != nil {
		return out, fmt.Errorf("read payouts: %w", err)
	}
	sent := map[string]string{}
	recorded := map[string]bool{}
	for rows.Next() {
		var id, txid, status string
		if err := rows.Scan(&id, &txid, &status); err != nil {
			rows.Close()
			return out, err
		}
		recorded[txid] = true
		if status == "sent" {
			sent[id] = txid
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return out, err
	}

	// Every wallet instance's transactions, and those it sent coins in:
	// passing or not (one that lags behind a sibling that just mined knows
	// the past as well), each that answers.
	wallets, _, err := p.Consul.Health().Service(contract.WalletService(p.Coin), "", false, (&consulapi.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return out, err
	}
	known := map[string]bool{}
	sends := map[string]bool{}
	var silent []string
	asked := map[string]*chain.Client{}
	entries := map[string]int{}
	for _, w := range wallets {
		addr := fmt.Sprintf("%s:%d", w.Service.Address, w.Service.Port)
		client, err := failover.WalletClient(ctx, p.Nomad, jobspec.WalletSecretsPath(p.Coin), addr)
		if err != nil {
			return out, err
		}
		listed := true
		const page = 1000
		for skip := 0; ; skip += page {
			var txs []struct {
				TxID     string `json:"txid"`
				Category string `json:"category"`
			}
			err := client.Call(ctx, "listtransactions", []any{"*", page, skip, true}, &txs)
			var rpcErr *chain.Error
			if errors.As(err, &rpcErr) && rpcErr.Kind == chain.RPC && rpcErr.Code == rpcWalletNotFound {
				// An instance placed anew whose probe has not made its
				// wallet yet: nothing it sent.
				listed = false
				break
			}
			if err != nil {
				// An instance that does not answer (its node gone, a
				// daemon starting): the others are asked.
				silent = append(silent, fmt.Sprintf("%s: %v", addr, err))
				listed = false
				break
			}
			entries[addr] += len(txs)
			for _, tx := range txs {
				known[tx.TxID] = true
				if tx.Category == "send" {
					sends[tx.TxID] = true
				}
			}
			if len(txs) < page {
				break
			}
		}
		if listed {
			out.Asked = append(out.Asked, addr)
			asked[addr] = client
		}
	}
	if len(out.Asked) == 0 && len(sent) > 0 {
		return out, fmt.Errorf("no wallet instance listed its transactions: %d instance(s) in Consul; %s", len(wallets), strings.Join(silent, "; "))
	}
	for _, txid := range sent {
		if !known[txid] && !anyKnows(ctx, asked, txid) {
			out.Lost++
			out.Unknown = append(out.Unknown, txid)
		}
	}
	for txid := range sends {
		if !recorded[txid] {
			out.Doubled++
		}
	}
	if len(out.Unknown) > 0 {
		for _, addr := range out.Asked {
			out.Seen = append(out.Seen, fmt.Sprintf("%s: %d entries listed; %s", addr, entries[addr], seenBy(ctx, asked[addr], out.Unknown)))
		}
	}
	return out, nil
}

// anyKnows says whether a wallet instance knows the transaction txid
// (gettransaction). listtransactions lists no entry of a transaction
// whose every output the wallet takes for change: one paying an address
// of the pool's own keys that is not in this instance's address book.
func anyKnows(ctx context.Context, wallets map[string]*chain.Client, txid string) bool {
	for _, c := range wallets {
		var tx struct {
			TxID string `json:"txid"`
		}
		if err := c.Call(ctx, "gettransaction", []any{txid, true}, &tx); err == nil && tx.TxID == txid {
			return true
		}
	}
	return false
}

// seenBy is what a wallet instance says of its wallet, its chain and
// the transactions txids: where a payout no wallet lists went.
func seenBy(ctx context.Context, c *chain.Client, txids []string) string {
	var parts []string
	var wallets []string
	if err := c.Call(ctx, "listwallets", nil, &wallets); err != nil {
		parts = append(parts, fmt.Sprintf("listwallets: %v", err))
	} else {
		parts = append(parts, fmt.Sprintf("wallets loaded %q", wallets))
	}
	var w struct {
		Name     string `json:"walletname"`
		TxCount  int    `json:"txcount"`
		HDSeedID string `json:"hdseedid"`
		KeyPool  int64  `json:"keypoololdest"`
	}
	if err := c.Call(ctx, "getwalletinfo", nil, &w); err != nil {
		parts = append(parts, fmt.Sprintf("getwalletinfo: %v", err))
	} else {
		parts = append(parts, fmt.Sprintf("wallet %q with %d transaction(s), seed %s, oldest key of %s",
			w.Name, w.TxCount, w.HDSeedID, time.Unix(w.KeyPool, 0).UTC().Format(time.TimeOnly)))
	}
	var info struct {
		Blocks    int64  `json:"blocks"`
		BestBlock string `json:"bestblockhash"`
	}
	if err := c.Call(ctx, "getblockchaininfo", nil, &info); err != nil {
		parts = append(parts, fmt.Sprintf("getblockchaininfo: %v", err))
	} else {
		parts = append(parts, fmt.Sprintf("height %d (%s)", info.Blocks, info.BestBlock))
	}
	for _, txid := range txids {
		var tx struct {
			Confirmations int64 `json:"confirmations"`
			BlockHeight   int64 `json:"blockheight"`
			Time          int64 `json:"time"`
		}
		if err := c.Call(ctx, "gettransaction", []any{txid, true}, &tx); err != nil {
			parts = append(parts, fmt.Sprintf("%.12s: %v", txid, err))
			continue
		}
		parts = append(parts, fmt.Sprintf("%.12s: %d confirmation(s), block %d, time %s", txid, tx.Confirmations, tx.BlockHeight,
			time.Unix(tx.Time, 0).UTC().Format(time.TimeOnly)))
	}
	return strings.Join(parts, "; ")
}

// payAfter has the miner credited for a mature block and forces the
// payout job until a payout is sent, noting which wallet paid.
func (p *Pool) payAfter(ctx context.Context, note func(string, ...any)) error {
	sent := func(ctx context.Context) (int, error) {
		db, err := p.open()
		if err != nil {
			return 0, err
		}
		defer db.Close()
		var n int
		err = db.QueryRow(ctx, `SELECT count(*) FROM payouts WHERE coin = $1 AND status = 'sent'`, p.Coin).Scan(&n)
		return n, err
	}
	// Counted before the credit, as in startPayout: the payout job's slot
	// may credit and pay before the credit is seen here.
	before, err := sent(ctx)
	if err != nil {
		return err
	}
	if err := p.credit(ctx, note); err != nil {
		return err
	}
	job := contract.JobID("", p.Coin, contract.KindPayout)
	deadline := time.Now().Add(p.Wait)
	for {
		if _, _, err := p.Nomad.Jobs().PeriodicForce(job, (&nomadapi.WriteOptions{}).WithContext(ctx)); err != nil {
			return fmt.Errorf("force %s: %w", job, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(15 * time.Second):
		}
		n, err := sent(ctx)
		if err == nil && n > before {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no payout sent within %s of forcing %s (%v); its last run: %s", p.Wait, job, err, p.lastRun(ctx, contract.KindPayout))
		}
	}
	note("a payout was sent after the cut: %s", p.lastSent(ctx))
	return nil
}

// lastRun is what the periodic job's last run recorded in Consul KV.
func (p *Pool) lastRun(ctx context.Context, kind string) string {
	pair, _, err := p.Consul.KV().Get(contract.RecordKey(p.Pool.Name, p.Coin, kind), (&consulapi.QueryOptions{}).WithContext(ctx))
	if err != nil || pair == nil {
		return fmt.Sprintf("no record (%v)", err)
	}
	var rec struct {
		Outcome, Message, Wallet string
	}
	if err := json.Unmarshal(pair.Value, &rec); err != nil {
		return err.Error()
	}
	return fmt.Sprintf("%s from the wallet at %s: %s", rec.Outcome, rec.Wallet, rec.Message)
}

// credit waits until the miner is credited for a mature block, mining
// the blocks that mature it.
func (p *Pool) credit(ctx context.Context, note func(string, ...any)) error {
	credited := func(ctx context.Context) bool {
		db, err := p.open()
		if err != nil {
			return false
		}
		defer db.Close()
		var n int64
		err = db.QueryRow(ctx, `SELECT count(*) FROM credits WHERE coin = $1 AND address = $2`, p.Coin, p.Address).Scan(&n)
		return err == nil && n > 0
	}
	// The miner's blocks mature 100 blocks later: a wallet mines them
	// (regtest), as the network would in time.
	if err := p.mature(ctx, note); err != nil {
		return err
	}
	return p.wait(ctx, "the miner credited for a mature block", credited)
}

// startPayout waits until the miner has been credited for a block (the
// blocks job credits a block once it is mature), forces the payout job
// and returns as soon as a payout's intent is in the database, the
// forced run's or one the payout job's slot started first: the power
// goes while the payout runs.
func (p *Pool) startPayout(ctx context.Context, note func(string, ...any)) error {
	// Counted before the blocks mature: the payout job, at its slot,
	// credits the mature block and pays it in one run, so a count taken
	// after the credit was seen could already include that payout, and
	// the forced run would find nothing left to pay (a warm suite waited
	// 5 minutes on that: "paid 0.00000000 in 0 transaction(s)").
	before, err := p.payoutRows(ctx)
	if err != nil {
		return err
	}
	if err := p.credit(ctx, note); err != nil {
		return err
	}
	job := contract.JobID("", p.Coin, contract.KindPayout)
	if _, _, err := p.Nomad.Jobs().PeriodicForce(job, (&nomadapi.WriteOptions{}).WithContext(ctx)); err != nil {
		return fmt.Errorf("force %s: %w", job, err)
	}
	err = p.wait(ctx, "the payout's intent", func(ctx context.Context) bool {
		n, err := p.payoutRows(ctx)
		return err == nil && n > before
	})
	if err != nil {
		return fmt.Errorf("%w; the payout job's last run: %s", err, p.lastRun(ctx, contract.KindPayout))
	}
	// The run holds the job's Consul lock while it pays; the cut kills
	// it holding the lock, whose session must then go by itself.
	p.heldLock = ""
	if pair, _, err := p.Consul.KV().Get(p.payoutLock(), (&consulapi.QueryOptions{}).WithContext(ctx)); err == nil && pair != nil {
		p.heldLock = pair.Session
	}
	if p.heldLock != "" {
		note("the payout's intent is written and its run holds the Consul lock (session %s): the power goes now", p.heldLock)
	} else {
		note("the payout's intent is written, its run's Consul lock already free: the power goes now")
	}
	return nil
}

func (p *Pool) payoutLock() string {
	return contract.LockKey(p.Pool.Name, p.Coin, contract.KindPayout)
}

// lockReleased waits until the Consul lock the run killed by the cut held
// is no longer held by its session, and its session is gone.
func (p *Pool) lockReleased(ctx context.Context, note func(string, ...any)) error {
	if p.heldLock == "" {
		return nil
	}
	err := p.wait(ctx, "the killed payout run's Consul lock released", func(ctx context.Context) bool {
		q := (&consulapi.QueryOptions{}).WithContext(ctx)
		pair, _, err := p.Consul.KV().Get(p.payoutLock(), q)
		if err != nil || pair != nil && pair.Session == p.heldLock {
			return false
		}
		s, _, err := p.Consul.Session().Info(p.heldLock, q)
		return err == nil && s == nil
	})
	if err == nil {
		note("the Consul lock the killed payout run held is released, its session gone (%.1f s after the power came back)", time.Since(p.poweredAt).Seconds())
	}
	return err
}

// settlePayouts forces the payout job until no intent is open: the run
// after a cut settles what the cut left (sent or not, by asking the
// wallet).
func (p *Pool) settlePayouts(ctx context.Context, note func(string, ...any)) error {
	job := contract.JobID("", p.Coin, contract.KindPayout)
	open := func(ctx context.Context) (int, error) {
		db, err := p.open()
		if err != nil {
			return 0, err
		}
		defer db.Close()
		var n int
		err = db.QueryRow(ctx, `SELECT count(*) FROM payouts WHERE coin = $1 AND status = 'intent'`, p.Coin).Scan(&n)
		return n, err
	}
	deadline := time.Now().Add(p.Wait)
	for first := true; ; first = false {
		n, err := open(ctx)
		if first && err == nil {
			note("%d payout intent(s) open once the pool was healthy again", n)
		}
		if err == nil && n == 0 {
			note("every payout intent settled")
			return p.lockReleased(ctx, note)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("payout intents still open %s after the power came back (%d; %v)", p.Wait, n, err)
		}
		// A run that finds the lock of the run the cut killed still held
		// (its session lasts until Consul's TTL runs out) skips; the
		// next one settles.
		if _, _, err := p.Nomad.Jobs().PeriodicForce(job, (&nomadapi.WriteOptions{}).WithContext(ctx)); err != nil {
			return fmt.Errorf("force %s: %w", job, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(15 * time.Second):
		}
	}
}

// payoutRows counts the coin's payouts, whatever their status.
func (p *Pool) payoutRows(ctx context.Context) (int, error) {
	db, err := p.open()
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var n int
	err = db.QueryRow(ctx, `SELECT count(*) FROM payouts WHERE coin = $1`, p.Coin).Scan(&n)
	return n, err
}

// coinbaseMaturity is how deep a block must be before its coinbase can be
// spent and the blocks job credits it: the wallet calls it "generate" at
// 101 confirmations, 100 blocks on top of it.
const coinbaseMaturity = 100

// mature mines, on a passing wallet to an address of its own, the blocks
// that make the miner's lowest pending block mature, as the network would
// in time: none when the miner's own blocks have buried it deep enough
// already, 101 when the miner has no pending block yet. No more: a regtest
// chain cannot pass height 431 (MWEB activation), and every block mined
// here brings a run of scenarios nearer to it.
func (p *Pool) mature(ctx context.Context, note func(string, ...any)) error {
	wallets, _, err := p.Consul.Health().Service(contract.WalletService(p.Coin), "", true, (&consulapi.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return err
	}
	if len(wallets) == 0 {
		return fmt.Errorf("no %s wallet passing", p.Coin)
	}
	w := wallets[0].Service
	client, err := failover.WalletClient(ctx, p.Nomad, jobspec.WalletSecretsPath(p.Coin), fmt.Sprintf("%s:%d", w.Address, w.Port))
	if err != nil {
		return err
	}
	db, err := p.open()
	if err != nil {
		return err
	}
	defer db.Close()
	var tip int64
	if err := client.Call(ctx, "getblockcount", nil, &tip); err != nil {
		return fmt.Errorf("getblockcount: %w", err)
	}
	lowest, err := lowestPending(ctx, db, client, p.Coin, tip)
	if err != nil {
		return err
	}
	n := int64(coinbaseMaturity + 1)
	if lowest != nil {
		n = max(0, *lowest+coinbaseMaturity-tip)
	}
	if n == 0 {
		note("the miner's block at height %d is mature already (tip %d)", *lowest, tip)
		return nil
	}
	var address string
	if err := client.Call(ctx, "getnewaddress", nil, &address); err != nil {
		return fmt.Errorf("getnewaddress: %w", err)
	}
	var hashes []string
	if err := client.Call(ctx, "generatetoaddress", []any{n, address}, &hashes); err != nil {
		return fmt.Errorf("generatetoaddress %d at height %d: %w", n, tip, err)
	}
	note("%d blocks mined on a wallet from height %d: the miner's blocks are mature", n, tip)
	return nil
}

// lowestPending is the height of the coin's lowest pending block that
// the wallet has in its main chain (nil if none): one a lost node's chain
// had alone never matures.
func lowestPending(ctx context.Context, db *pgxpool.Pool, w *chain.Client, coin string, tip int64) (*int64, error) {
	rows, err := db.Query(ctx, `SELECT height, hash FROM blocks WHERE coin = $1 AND status = 'pending' ORDER BY height LIMIT 50`, coin)
	if err != nil {
		return nil, fmt.Errorf("the pending blocks: %w", err)
	}
	type block struct {
		height int64
		hash   string
	}
	var pending []block
	for rows.Next() {
		var b block
		if err := rows.Scan(&b.height, &b.hash); err != nil {
			rows.Close()
			return nil, err
		}
		pending = append(pending, b)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, b := range pending {
		if b.height > tip {
			break // beyond the wallet's chain: mining matures the ones below
		}
		var main string
		if err := w.Call(ctx, "getblockhash", []any{b.height}, &main); err != nil {
			return nil, fmt.Errorf("getblockhash %d: %w", b.height, err)
		}
		if main == b.hash {
			return &b.height, nil
		}
	}
	return nil, nil
}

// lastSent describes the payout recorded last.
func (p *Pool) lastSent(ctx context.Context) string {
	db, err := p.open()
	if err != nil {
		return err.Error()
	}
	defer db.Close()
	var id, txid string
	var units int64
	err = db.QueryRow(ctx, `
		SELECT p.id, coalesce(p.txid, ''), coalesce(sum(i.amount), 0)::bigint FROM payouts p LEFT JOIN payout_items i ON i.payout_id = p.id
		WHERE p.coin = $1 AND p.status = 'sent' GROUP BY p.id ORDER BY p.settled_at DESC LIMIT 1`, p.Coin).Scan(&id, &txid, &units)
	if err != nil {
		return fmt.Sprintf("read it: %v", err)
	}
	return fmt.Sprintf("%s, %d units, transaction %s", id, units, txid)
}
