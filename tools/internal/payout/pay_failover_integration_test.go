package payout

import (
	"context"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/chain"
	"github.com/scryptpool/poolmicrocloud/tools/internal/ledger"
	"github.com/scryptpool/poolmicrocloud/tools/internal/testenv"
)

// The primary's node loses power while a payout is between its intent and
// its record (issue 15), on the pool's real two-member Patroni cluster
// (synchronous_mode on, not strict). The payout's process stays alive:
// its next database write meets the dead primary. The run reports a
// clear error naming the payout and sends nothing more; the intent,
// acknowledged by the synchronous standby when it was committed, is on
// the standby once Patroni has promoted it; the next run settles it (found
// sent in the wallet: recorded, not sent again; not sent: sent once, under
// its id). On chain and in the ledger every miner is paid its balance
// exactly once. Here the dead primary's sockets are closed by its kernel,
// so the run's write fails at once; a node powered off across a real
// network answers nothing, and the write fails only when TCP gives up.
func TestPayoutStaysExactlyOnceAcrossAFailover(t *testing.T) {
	testenv.Integration(t)
	for _, tc := range []struct {
		step string
		// sent: the batch's coins left the wallet before the power cut.
		sent bool
	}{
		{step: "after-send", sent: true},
		{step: "after-intent", sent: false},
	} {
		t.Run(tc.step, func(t *testing.T) {
			ctx := context.Background()
			consul := testenv.StartConsul(t)
			members := testenv.StartPatroni(t, consul.Addr, "failover", "pi-01", "pi-02")
			primary, standby := syncPair(t, members)
			dsn := testenv.PoolDSN(members)
			e := newPayEnvOn(t, dsn)
			miners := e.creditedMiners(4) // two batches of MaxOutputs 3

			// The run is a process of its own in production, with the
			// pool poolctl opens.
			runDB, err := ledger.Open(dsn, nil, "", 2)
			require.NoError(t, err)
			t.Cleanup(runDB.Close)

			var (
				once     sync.Once
				killed   time.Time
				intentID string
				batch    []item   // the intent's items, read on the old primary
				sentTxID string   // what the wallet sent for it before the cut
				sendsAt  []string // the wallet's sends at the cut
			)
			o := testPayOptions()
			o.AtStep = func(step string) {
				if step != tc.step {
					return
				}
				once.Do(func() {
					// What the run committed before the power cut, as the
					// primary has it.
					require.NoError(t, e.db.QueryRow(ctx, `SELECT id FROM payouts WHERE status = 'intent'`).Scan(&intentID))
					var err error
					batch, err = intentItems(ctx, e.db, intentID)
					require.NoError(t, err)
					sentTxID = e.broadcastOf(intentID)
					require.Equal(t, tc.sent, sentTxID != "", "at %s, the wallet has sent the batch: %v", tc.step, tc.sent)
					sendsAt = walletSends(t, e)
					primary.Kill()
					killed = time.Now()
					t.Logf("%s: %s (the primary) lost power with payout %s open (%d outputs)", tc.step, primary.Name, intentID, len(batch))
				})
			}
			runCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			defer cancel()
			res, err := Pay(runCtx, runDB, e.pool, o)
			reported := time.Since(killed)
			require.False(t, killed.IsZero(), "the run reached %s", tc.step)
			require.NoError(t, runCtx.Err(), "the run ended on its own, not at the test's deadline")
			require.Error(t, err, "the run's next write met the dead primary")
			t.Logf("%s: the run returned %s after the power cut: %v", tc.step, reported.Round(time.Millisecond), err)
			assert.Contains(t, err.Error(), intentID, "the error names the payout left open")
			if tc.sent {
				assert.Contains(t, err.Error(), sentTxID, "the error names the transaction the wallet sent")
			}
			assert.Empty(t, res.Payouts, "the run recorded nothing")
			assert.Equal(t, sendsAt, walletSends(t, e), "the run sent nothing more after the power cut")

			// Patroni promotes the synchronous standby once the old
			// primary's leader key has expired (ttl 20).
			require.Eventually(t, func() bool { return standby.Answers("/primary") }, 90*time.Second, 250*time.Millisecond,
				"%s, the synchronous standby, becomes the primary", standby.Name)
			promoted := time.Since(killed)
			t.Logf("%s: %s answers /primary %s after the power cut", tc.step, standby.Name, promoted.Round(time.Millisecond))

			// The test's own connections died with the old primary.
			// Patroni answers /primary as it asks PostgreSQL to promote;
			// the member accepts writes a moment later, and until then the
			// pool's URL finds no writable member.
			e.db = e.newDB()
			var port int
			for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
				err := e.db.QueryRow(ctx, `SELECT inet_server_port()`).Scan(&port)
				if err == nil {
					break
				}
				require.True(t, time.Now().Before(deadline), "the pool's URL reaches no writable member 30 s after the promotion: %v", err)
			}
			require.Equal(t, standby.PGPort, port, "the pool's URL reaches the new primary")
			var status string
			require.NoError(t, e.db.QueryRow(ctx, `SELECT status FROM payouts WHERE id = $1`, intentID).Scan(&status),
				"the intent committed before the power cut is on the new primary")
			assert.Equal(t, "intent", status, "and still open")
			items, err := intentItems(ctx, e.db, intentID)
			require.NoError(t, err)
			assert.Equal(t, batch, items, "with the items the old primary had")

			// The next run, a new process, settles the open intent and
			// pays the rest.
			next, err := ledger.Open(dsn, nil, "", 2)
			require.NoError(t, err)
			t.Cleanup(next.Close)
			nextCtx, cancelNext := context.WithTimeout(ctx, time.Minute)
			defer cancelNext()
			started := time.Now()
			res, err = Pay(nextCtx, next, e.pool, testPayOptions())
			require.NoError(t, err, "the run after the failover")
			t.Logf("%s: the next run settled everything in %s, %s after the power cut", tc.step,
				time.Since(started).Round(time.Millisecond), time.Since(killed).Round(time.Millisecond))
			assert.Empty(t, res.Waiting)
			assert.Zero(t, res.OwedUnits)
			require.NotEmpty(t, res.Payouts)
			first := res.Payouts[0]
			assert.Equal(t, intentID, first.ID, "the open intent is settled first")
			assert.True(t, first.Reconciled, "as a crashed run's intent")
			if tc.sent {
				assert.Equal(t, sentTxID, first.TxID, "found sent in the wallet: recorded, not sent again")
			}
			e.assertSendsRecorded()

			var sent, open, cancelled int
			require.NoError(t, e.db.QueryRow(ctx, `
				SELECT count(*) FILTER (WHERE status = 'sent'), count(*) FILTER (WHERE status = 'intent'),
				       count(*) FILTER (WHERE status = 'cancelled') FROM payouts`).Scan(&sent, &open, &cancelled))
			assert.Equal(t, 2, sent, "two payouts, one per batch")
			assert.Zero(t, open)
			assert.Zero(t, cancelled)
			assert.ElementsMatch(t, miners, e.assertExactlyOnce(miners), "the addresses paid are the miners")
		})
	}
}

// syncPair waits until one member is the primary and the other its
// synchronous standby, each by its own REST API, and returns them.
func syncPair(t *testing.T, members []*testenv.Patroni) (primary, standby *testenv.Patroni) {
	t.Helper()
	require.Len(t, members, 2)
	require.Eventually(t, func() bool {
		for i, m := range members {
			other := members[1-i]
			if m.Answers("/primary") && other.Answers("/sync") {
				primary, standby = m, other
				return true
			}
		}
		return false
	}, 3*time.Minute, 250*time.Millisecond, "a primary and a synchronous standby")
	return primary, standby
}

// broadcastOf is the txid of the payout's transaction if the run stored
// it and the wallet has it (it was broadcast), or "".
func (e *payEnv) broadcastOf(id string) string {
	e.t.Helper()
	var txid string
	require.NoError(e.t, e.db.QueryRow(context.Background(), `SELECT coalesce(txid, '') FROM payouts WHERE id = $1`, id).Scan(&txid))
	if txid == "" {
		return ""
	}
	var tx walletTx
	if err := e.pool.Call(context.Background(), "gettransaction", []any{txid}, &tx); err != nil {
		require.Equal(e.t, rpcNotInWallet, chain.CodeOf(err), "gettransaction %s: %v", txid, err)
		return ""
	}
	return txid
}

// walletSends are the distinct transactions the pool wallet sent coins
// in, sorted.
func walletSends(t *testing.T, e *payEnv) []string {
	t.Helper()
	var txs []walletTx
	require.NoError(t, e.pool.Call(context.Background(), "listtransactions", []any{"*", 100000, 0, true}, &txs))
	seen := map[string]bool{}
	for _, tx := range txs {
		if tx.Category == "send" {
			seen[tx.TxID] = true
		}
	}
	out := make([]string, 0, len(seen))
	for txid := range seen {
		out = append(out, txid)
	}
	sort.Strings(out)
	return out
}

// assertSendsRecorded: every transaction the pool wallet sent is a
// payout recorded sent, and every payout recorded sent is one the wallet
// sent: none paid twice, none recorded and not paid.
func (e *payEnv) assertSendsRecorded() {
	e.t.Helper()
	rows, err := e.db.Query(context.Background(), `SELECT txid FROM payouts WHERE status = 'sent' ORDER BY txid`)
	require.NoError(e.t, err)
	recorded, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(e.t, err)
	sort.Strings(recorded)
	assert.Equal(e.t, recorded, walletSends(e.t, e), "the wallet's sends are the payouts recorded sent")
}
