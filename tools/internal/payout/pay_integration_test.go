package payout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/chain"
	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
	"github.com/scryptpool/poolmicrocloud/tools/internal/ledger"
	"github.com/scryptpool/poolmicrocloud/tools/internal/testenv"
)

const unitsPerCoin = 100_000_000

// The payout process the crash tests kill: this test binary, started
// again with PAYOUT_TEST_ROLE=pay, runs Pay and, at the step named by
// PAYOUT_TEST_CRASH, kills itself with SIGKILL (no deferred cleanup, no
// rollback sent: as a power cut would).
func TestMain(m *testing.M) {
	if os.Getenv("PAYOUT_TEST_ROLE") == "pay" {
		os.Exit(payRole())
	}
	os.Exit(m.Run())
}

func payRole() int {
	ctx := context.Background()
	db, err := pgxpool.New(ctx, os.Getenv("PAYOUT_TEST_DSN"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer db.Close()
	w := chain.NewClient("", os.Getenv("PAYOUT_TEST_USER"), os.Getenv("PAYOUT_TEST_PASSWORD"))
	w.URL = os.Getenv("PAYOUT_TEST_WALLET_URL")
	crashAt := os.Getenv("PAYOUT_TEST_CRASH")
	o := testPayOptions()
	o.AtStep = func(step string) {
		if step == crashAt {
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
	}
	var res PayResult
	if addr := os.Getenv("PAYOUT_TEST_CONSUL"); addr != "" {
		// Under the job's Consul lock, as the payout job runs.
		consul, cerr := consulapi.NewClient(&consulapi.Config{Address: addr})
		if cerr != nil {
			fmt.Fprintln(os.Stderr, cerr)
			return 1
		}
		_, err = Recorded(ctx, lockedRun(consul), func(ctx context.Context, _ *Record) error {
			res, err = Pay(ctx, db, w, o)
			return err
		})
	} else {
		res, err = Pay(ctx, db, w, o)
	}
	if errors.Is(err, ErrBusy) {
		fmt.Println("busy")
		return 3
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	out, _ := json.Marshal(res)
	fmt.Println(string(out))
	return 0
}

// lockedRun is the payout job's run under its Consul lock, in the tests.
func lockedRun(consul *consulapi.Client) RecordedRun {
	return RecordedRun{Consul: consul, Pool: "test", Coin: "ltc", Job: "payout"}
}

func testPayOptions() PayOptions {
	return PayOptions{
		Coin: "ltc", Network: "regtest", UnitsPerCoin: unitsPerCoin,
		Minimum: 1_000_000, Reserve: 100_000_000, MaxOutputs: 3, SendTimeout: time.Second,
	}
}

// payEnv is a real PostgreSQL with the ledger and a real regtest litecoind
// with two wallets: "pool" (holds the pool address, receives the block
// rewards, pays) and "miners" (holds the miners' addresses, so that what
// each received can be asked of the daemon).
type payEnv struct {
	t           *testing.T
	pg          *testenv.Postgres // nil when the ledger is on a Patroni cluster
	dsn         string            // the ledger's database
	db          *pgxpool.Pool
	node        *testenv.Litecoind
	pool, miner *chain.Client
	poolAddress string
	// blockHashes are the chain's blocks by height, all paying the pool.
	blockHashes []string
	nextBlock   int // the next height to hand out as "found by the pool"
}

func newPayEnv(t *testing.T) *payEnv {
	testenv.Integration(t)
	pg := testenv.StartPostgres(t)
	e := newPayEnvOn(t, pg.DSN)
	e.pg = pg
	return e
}

// newPayEnvOn is a payEnv whose ledger is the database at dsn.
func newPayEnvOn(t *testing.T, dsn string) *payEnv {
	testenv.Integration(t)
	ctx := context.Background()
	e := &payEnv{t: t, dsn: dsn, node: testenv.StartLitecoind(t), nextBlock: 1}
	var err error
	e.db, err = pgxpool.New(ctx, e.dsn)
	require.NoError(t, err)
	t.Cleanup(e.db.Close)
	require.NoError(t, ledger.Migrate(ctx, e.db))

	base := e.node.Client()
	require.NoError(t, base.EnsureWallet(ctx, "miners"))
	e.pool = walletClient(e.node, "pool")
	e.miner = walletClient(e.node, "miners")
	require.NoError(t, e.pool.Call(ctx, "getnewaddress", nil, &e.poolAddress))
	// 130 blocks paying the pool: the first 30 rewards are mature.
	hashes, err := e.pool.GenerateToAddress(ctx, 130, e.poolAddress)
	require.NoError(t, err)
	e.blockHashes = append([]string{""}, hashes...)
	return e
}

func walletClient(l *testenv.Litecoind, name string) *chain.Client {
	c := l.Client()
	c.URL += "/wallet/" + name
	return c
}

// minerAddresses makes n addresses of the miners' wallet.
func (e *payEnv) minerAddresses(n int) []string {
	var out []string
	for i := 0; i < n; i++ {
		var a string
		require.NoError(e.t, e.miner.Call(context.Background(), "getnewaddress", nil, &a))
		out = append(out, a)
	}
	return out
}

// found records the next mature block as found by the pool, after shares
// of the given difficulties by address, as the stratum server would.
func (e *payEnv) found(shares map[string]float64) {
	ctx := context.Background()
	height := e.nextBlock
	e.nextBlock++
	var last int64
	for addr, diff := range shares {
		require.NoError(e.t, e.db.QueryRow(ctx, `
			INSERT INTO shares (share_key, coin, address, difficulty, network_difficulty, height, instance, submitted_at)
			VALUES ($1, 'ltc', $2, $3, 1000, $4, 'test', now()) RETURNING id`,
			fmt.Sprintf("%d-%s", height, addr), addr, diff, height).Scan(&last))
	}
	_, err := e.db.Exec(ctx, `
		INSERT INTO blocks (coin, height, hash, address, reward, share_id, found_at)
		VALUES ('ltc', $1, $2, $3, 0, $4, now())`, height, e.blockHashes[height], e.poolAddress, last)
	require.NoError(e.t, err)
}

// creditedMiner is a new miner address owed a whole block: its shares
// alone fill the block's window, and the block is credited.
func (e *payEnv) creditedMiner() []string {
	miners := e.minerAddresses(1)
	e.found(map[string]float64{miners[0]: 1})
	require.Equal(e.t, 1, e.track().Confirmed)
	return miners
}

func (e *payEnv) track() TrackResult {
	res, err := TrackBlocks(context.Background(), e.db, e.pool, TrackOptions{
		Coin: "ltc", Confirmations: 100, FeePercent: 1, Scheme: Scheme{Name: "pplns", Window: 2},
		UnitsPerCoin: unitsPerCoin, OrphanDepth: 10,
	})
	require.NoError(e.t, err)
	return res
}

// payProcess runs the payout in a child process; crashAt names the step
// where it kills itself ("" for none).
// A payout run killed (SIGKILL: a power cut of its own) while it holds
// the job's Consul lock, its intent written: nobody releases the lock,
// and nobody needs to. The lock's session stops being renewed and Consul
// ends it (its TTL, 30 s, which Consul may stretch to twice that, then
// the lock delay); the next run takes the lock and settles the intent,
// and every miner is paid once.
func TestLockOfAKilledRunIsReleased(t *testing.T) {
	e := newPayEnv(t)
	ctx := context.Background()
	agent := testenv.StartConsul(t)
	consul := agent.Client(t)
	miners := e.creditedMiners(2)

	killed := e.payProcess("after-intent")
	killed.Env = append(killed.Env, "PAYOUT_TEST_CONSUL="+agent.Addr)
	err := killed.Run()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "the run was killed with its intent written")
	assert.Equal(t, syscall.SIGKILL, exit.Sys().(syscall.WaitStatus).Signal())
	killedAt := time.Now()
	key := contract.LockKey("test", "ltc", "payout")
	pair, _, err := consul.KV().Get(key, nil)
	require.NoError(t, err)
	require.NotNil(t, pair, "the killed run took the lock")
	require.NotEmpty(t, pair.Session, "the killed run's session still holds the lock")
	var open int
	require.NoError(t, e.db.QueryRow(ctx, `SELECT count(*) FROM payouts WHERE status = 'intent'`).Scan(&open))
	require.Equal(t, 1, open, "the killed run left its intent open")

	// Runs come as the job's slots would: each finds the lock held and
	// records "skipped", until Consul has ended the dead run's session.
	skipped := 0
	require.Eventually(t, func() bool {
		entered := false
		rec, err := Recorded(ctx, lockedRun(consul), func(ctx context.Context, _ *Record) error {
			entered = true
			_, err := e.payCtx(ctx, e.newDB())
			return err
		})
		require.NoError(t, err)
		if !entered {
			require.Equal(t, "skipped", rec.Outcome)
			skipped++
		}
		return entered
	}, 3*time.Minute, time.Second, "the dead run's lock was never released")
	t.Logf("lock released %.1f s after its holder was killed (%d runs skipped before)", time.Since(killedAt).Seconds(), skipped)
	assert.Positive(t, skipped, "the lock was held after the kill")
	e.assertExactlyOnce(miners) // the intent settled, no other left open
	pair, _, err = consul.KV().Get(key, nil)
	require.NoError(t, err)
	assert.True(t, pair == nil || pair.Session == "", "the lock is free after the run")
	e.mine(1)
}

func (e *payEnv) payProcess(crashAt string) *exec.Cmd {
	self, err := os.Executable()
	require.NoError(e.t, err)
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(),
		"PAYOUT_TEST_ROLE=pay", "PAYOUT_TEST_DSN="+e.dsn, "PAYOUT_TEST_WALLET_URL="+e.pool.URL,
		"PAYOUT_TEST_USER="+e.node.User, "PAYOUT_TEST_PASSWORD="+e.node.Password, "PAYOUT_TEST_CRASH="+crashAt)
	cmd.Stderr = os.Stderr
	return cmd
}

// received is what the daemon says each address received, in units.
func (e *payEnv) received(addr string) int64 {
	// The miners' wallet learns of the pool wallet's transactions
	// through the daemon's notification queue: let it catch up.
	require.NoError(e.t, e.node.Client().Call(context.Background(), "syncwithvalidationinterfacequeue", nil, nil))
	var amount json.Number
	require.NoError(e.t, e.miner.Call(context.Background(), "getreceivedbyaddress", []any{addr, 0}, &amount))
	u, err := Units(amount, unitsPerCoin)
	require.NoError(e.t, err)
	return u
}

// ledgerOf is what the ledger credited and paid an address.
func (e *payEnv) ledgerOf(addr string) (credited, paid, owed int64) {
	ctx := context.Background()
	require.NoError(e.t, e.db.QueryRow(ctx, `SELECT coalesce(sum(amount), 0) FROM credits WHERE address = $1`, addr).Scan(&credited))
	err := e.db.QueryRow(ctx, `SELECT paid, owed FROM balances WHERE address = $1`, addr).Scan(&paid, &owed)
	if err != nil {
		require.ErrorContains(e.t, err, "no rows")
	}
	return credited, paid, owed
}

// mine confirms what was sent, so the next payout can spend the change.
func (e *payEnv) mine(n int) {
	var burn string
	require.NoError(e.t, e.miner.Call(context.Background(), "getnewaddress", nil, &burn))
	_, err := e.pool.GenerateToAddress(context.Background(), n, burn)
	require.NoError(e.t, err)
}

// assertExactlyOnce: no payout is left open, and every address in addrs
// or paid by any payout (in the ledger's payout items, or in the pool
// wallet's sends) received on chain exactly what the ledger says it was
// paid, and was paid everything it was credited. A block's PPLNS window
// reaches back over earlier miners' shares, so a batch pays more than the
// addresses a test just made. It returns the addresses it checked.
func (e *payEnv) assertExactlyOnce(addrs []string) []string {
	e.t.Helper()
	ctx := context.Background()
	var open int
	require.NoError(e.t, e.db.QueryRow(ctx, `SELECT count(*) FROM payouts WHERE status = 'intent'`).Scan(&open))
	assert.Zero(e.t, open, "no payout is left open")

	items := e.paidItems()
	sent := e.sentByPool()
	// Balances are per spelling, the chain per script: the spellings of
	// one script are summed and compared with what the script received.
	canonical := func(a string) string {
		if c, err := chain.CanonicalAddress(a, "regtest"); err == nil {
			return c
		}
		return a
	}
	spellings := map[string]map[string]bool{}
	see := func(a string) {
		c := canonical(a)
		if spellings[c] == nil {
			spellings[c] = map[string]bool{}
		}
		spellings[c][a] = true
	}
	for _, a := range addrs {
		see(a)
	}
	for a := range items {
		see(a)
	}
	for a := range sent {
		see(a)
	}
	out := make([]string, 0, len(spellings))
	for c := range spellings {
		out = append(out, c)
	}
	sort.Strings(out)
	for _, c := range out {
		var credited, paid, owed, itemsPaid, sentTo int64
		for a := range spellings[c] {
			cr, p, o := e.ledgerOf(a)
			credited, paid, owed = credited+cr, paid+p, owed+o
			itemsPaid += items[a]
			sentTo += sent[a]
		}
		assert.Positive(e.t, credited, "%s was credited", c)
		assert.Equal(e.t, credited, paid, "%s: paid what was credited (owed %d)", c, owed)
		assert.Equal(e.t, int64(0), owed, "%s owes nothing", c)
		assert.Equal(e.t, itemsPaid, paid, "%s: the balance paid is the sum of its sent payouts' items", c)
		assert.Equal(e.t, paid, sentTo, "%s: the pool wallet sent what the ledger paid", c)
		assert.Equal(e.t, paid, e.received(c), "%s: received on chain what the ledger paid", c)
	}
	return out
}

// itemsOf are the addresses the payouts ids pay, but for those in except.
func (e *payEnv) itemsOf(ids, except []string) []string {
	rows, err := e.db.Query(context.Background(), `
		SELECT DISTINCT address FROM payout_items WHERE payout_id = ANY($1) AND NOT address = ANY($2) ORDER BY address`, ids, except)
	require.NoError(e.t, err)
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(e.t, err)
	return out
}

// paidItems is, by address, what the ledger's sent payouts paid.
func (e *payEnv) paidItems() map[string]int64 {
	rows, err := e.db.Query(context.Background(), `
		SELECT i.address, sum(i.amount)::bigint FROM payout_items i JOIN payouts p ON p.id = i.payout_id
		WHERE p.status = 'sent' GROUP BY i.address`)
	require.NoError(e.t, err)
	out := map[string]int64{}
	for rows.Next() {
		var a string
		var u int64
		require.NoError(e.t, rows.Scan(&a, &u))
		out[a] = u
	}
	require.NoError(e.t, rows.Err())
	return out
}

// sentByPool is, by address, what the pool wallet's transactions sent:
// every payout the wallet made, whatever the ledger knows of it.
func (e *payEnv) sentByPool() map[string]int64 {
	var txs []struct {
		Category string      `json:"category"`
		Address  string      `json:"address"`
		Amount   json.Number `json:"amount"`
	}
	require.NoError(e.t, e.pool.Call(context.Background(), "listtransactions", []any{"*", 100000, 0, true}, &txs))
	out := map[string]int64{}
	for _, tx := range txs {
		if tx.Category != "send" {
			continue
		}
		u, err := Units(tx.Amount, unitsPerCoin)
		require.NoError(e.t, err)
		out[tx.Address] -= u // a send's amount is negative
	}
	return out
}

func TestBlocksAreCreditedOnceByPPLNS(t *testing.T) {
	e := newPayEnv(t)
	miners := e.minerAddresses(3)
	e.found(map[string]float64{miners[0]: 1, miners[1]: 3})
	e.found(map[string]float64{miners[2]: 4})

	res := e.track()
	assert.Equal(t, 2, res.Confirmed)
	// Block 1: 50 coins, 1% fee; its window (2 x 1000) holds the first
	// four difficulty: a 1/4, b 3/4. Block 2's window reaches back over
	// block 1's shares too: a 1/8, b 3/8, c 4/8.
	pot := int64(50*unitsPerCoin) - int64(50*unitsPerCoin)/100
	c0, _, _ := e.ledgerOf(miners[0])
	c1, _, _ := e.ledgerOf(miners[1])
	c2, _, _ := e.ledgerOf(miners[2])
	assert.Equal(t, pot/4+pot/8, c0)
	assert.Equal(t, pot*3/4+pot*3/8, c1)
	assert.Equal(t, pot/2, c2)

	// A second run credits nothing again.
	again := e.track()
	assert.Equal(t, 0, again.Confirmed)
	c0b, _, _ := e.ledgerOf(miners[0])
	assert.Equal(t, c0, c0b)

	// A block that is not yet deep enough stays pending.
	e.nextBlock = 40 // 130 - 40 + 1 = 91 confirmations
	e.found(map[string]float64{miners[2]: 1})
	pending := e.track()
	assert.Equal(t, 1, pending.Pending)
	var status string
	var confs int64
	require.NoError(t, e.db.QueryRow(context.Background(), `SELECT status, confirmations FROM blocks WHERE height = 40`).Scan(&status, &confs))
	assert.Equal(t, "pending", status)
	assert.Equal(t, int64(91), confs)

	// A coinbase exactly Confirmations deep is still immature to the
	// wallet (it spends one at 101): credited then, its reward would be
	// owed before the wallet could pay it. One block later it is.
	e.nextBlock = 31 // 130 - 31 + 1 = 100 confirmations
	e.found(map[string]float64{miners[0]: 1})
	atDepth := e.track()
	assert.Equal(t, 0, atDepth.Confirmed, "a coinbase at 100 confirmations is immature")
	assert.Equal(t, 2, atDepth.Pending)
	require.NoError(t, e.db.QueryRow(context.Background(), `SELECT status, confirmations FROM blocks WHERE height = 31`).Scan(&status, &confs))
	assert.Equal(t, "pending", status)
	assert.Equal(t, int64(100), confs)
	e.mine(1)
	mature := e.track()
	assert.Equal(t, 1, mature.Confirmed, "at 101 confirmations the wallet can spend it")
	require.NoError(t, e.db.QueryRow(context.Background(), `SELECT status FROM blocks WHERE height = 31`).Scan(&status))
	assert.Equal(t, "confirmed", status)
}

// A payout killed at every step, then run again: every miner address
// holds on chain exactly what it was owed, nothing twice, nothing lost.
// Each block's PPLNS window reaches back over every earlier step's
// shares, so from the second step on the batch that is killed and then
// settled pays earlier miners too: after every step, every miner so far
// is checked, not only the step's own.
func TestPayoutSurvivesBeingKilledAtEveryStep(t *testing.T) {
	e := newPayEnv(t)
	var everyMiner []string
	for _, step := range []string{"before-intent", "after-intent", "after-build", "after-send", "during-record"} {
		t.Run(step, func(t *testing.T) {
			e.t = t
			miners := e.minerAddresses(4) // two batches of MaxOutputs 3
			everyMiner = append(everyMiner, miners...)
			e.found(map[string]float64{miners[0]: 1, miners[1]: 2, miners[2]: 3, miners[3]: 4})
			require.Equal(t, 1, e.track().Confirmed)

			crashed := e.payProcess(step)
			err := crashed.Run()
			var exit *exec.ExitError
			require.ErrorAs(t, err, &exit, "the payout was killed at %s", step)
			assert.Equal(t, syscall.SIGKILL, exit.Sys().(syscall.WaitStatus).Signal())

			// The next run may have to wait out a young intent (twice
			// the send timeout) before it settles it.
			var out []byte
			var settled []string // ids of the intents the later run settled
			require.Eventually(t, func() bool {
				out, err = e.payProcess("").Output()
				var busy *exec.ExitError
				if errors.As(err, &busy) && busy.ExitCode() == 3 {
					// ErrBusy: the killed run's session still holds the
					// coin's advisory lock until PostgreSQL reads the end
					// of its connection (a loaded machine took seconds);
					// the payout job's run skips then, and the next one
					// settles, as here.
					return false
				}
				require.NoError(t, err)
				var res PayResult
				require.NoError(t, json.Unmarshal(out, &res))
				for _, p := range res.Payouts {
					if p.Reconciled {
						settled = append(settled, p.ID)
					}
				}
				return res.Waiting == "" && res.OwedUnits == 0
			}, 30*time.Second, 500*time.Millisecond, "a later run settles everything: %s", out)
			// Killed with an intent open, the next run settled that intent
			// (its stored transaction broadcast again, or built and sent
			// under its id).
			assert.Equal(t, step != "before-intent", len(settled) > 0, "an intent was left open and settled")
			if len(settled) > 0 && len(everyMiner) > len(miners) {
				// The largest balances go first, and each earlier step
				// has a miner as large as this step's largest.
				assert.NotEmpty(t, e.itemsOf(settled, miners), "the settled intent paid earlier miners")
			}
			checked := e.assertExactlyOnce(miners)
			e.assertSendsRecorded()
			// What the payouts paid is every miner so far, no fewer (an
			// earlier miner left unpaid) and no other address.
			assert.ElementsMatch(t, everyMiner, checked, "the addresses paid are every miner so far")
			e.mine(1)
		})
	}
}

// Two payout runs at once pay once. The runs overlap for certain: the
// first is held inside its locks, its batch read and nothing written,
// until the second has tried. Three protections stand between them, and
// each is shown stopping the second run on its own, with the others out
// of the way: the job's Consul lock (poolctl's layer), the coin's
// advisory lock in PostgreSQL, and the unique index that allows one open
// payout intent per coin.
func TestConcurrentPayoutsPayOnce(t *testing.T) {
	e := newPayEnv(t)
	ctx := context.Background()

	t.Run("the advisory lock stops the second run", func(t *testing.T) {
		e.t = t
		miners := e.creditedMiners(5) // two batches of MaxOutputs 3
		held := newGate("before-intent")
		before := e.payouts()
		db := e.newDB()
		var paid PayResult
		first := e.background(func() (err error) {
			paid, err = e.pay(db, held)
			return err
		}, held)
		first.waitAt(t, held)

		// No Consul here: only the advisory lock stands in the way.
		_, err := e.pay(e.newDB())
		require.ErrorIs(t, err, errAdvisoryLockHeld, "the second run is turned away by the advisory lock")
		assert.Equal(t, before, e.payouts(), "the second run wrote nothing")

		held.open()
		require.NoError(t, first.wait())
		assert.Equal(t, before+len(paid.Payouts), e.payouts(), "every payout written is the first run's")
		e.assertExactlyOnce(miners)
		e.mine(1)
	})

	t.Run("with the advisory lock lost, the open-intent index stops the second run", func(t *testing.T) {
		e.t = t
		miners := e.creditedMiners(5)
		before := e.payouts()
		read, intent := newGate("before-intent"), newGate("after-intent")
		db, secondDB := e.newDB(), e.newDB()
		var paid PayResult
		first := e.background(func() (err error) {
			paid, err = e.pay(db, read, intent)
			return err
		}, read, intent)
		first.waitAt(t, read)
		// The first run's advisory lock goes with its database session,
		// as when its connection drops; the run goes on.
		e.endAdvisoryLockSession()

		secondRead := newGate("before-intent")
		second := e.background(func() error {
			_, err := e.pay(secondDB, secondRead)
			return err
		}, secondRead)
		// The second run took the advisory lock and read the same batch.
		second.waitAt(t, secondRead)
		read.open()
		first.waitAt(t, intent) // the first run's intent is open
		secondRead.open()
		require.ErrorIs(t, second.wait(), errIntentOpen, "the second run's intent is refused by the unique index")

		intent.open()
		require.NoError(t, first.wait())
		assert.Equal(t, before+len(paid.Payouts), e.payouts(), "every payout written is the first run's")
		e.assertExactlyOnce(miners)
		e.mine(1)
	})

	t.Run("with the advisory lock lost, a batch another run paid is not paid again", func(t *testing.T) {
		e.t = t
		miners := e.creditedMiners(5)
		read := newGate("before-intent")
		db := e.newDB()
		first := e.background(func() error {
			_, err := e.pay(db, read)
			return err
		}, read)
		first.waitAt(t, read) // its batch read, nothing written
		e.endAdvisoryLockSession()

		// The second run takes the advisory lock and pays everyone.
		_, err := e.pay(e.newDB())
		require.NoError(t, err)
		e.assertExactlyOnce(miners)
		before := e.payouts()

		// The first run goes on with the balances it read before.
		read.open()
		require.ErrorIs(t, first.wait(), errBatchPaid, "the first run's intent is refused: its batch was paid meanwhile")
		assert.Equal(t, before, e.payouts(), "the first run wrote nothing")
		e.assertExactlyOnce(miners)
		e.mine(1)
	})

	t.Run("the Consul lock stops the second run", func(t *testing.T) {
		e.t = t
		consul := testenv.StartConsul(t).Client(t)
		job := RecordedRun{Consul: consul, Pool: "test", Coin: "ltc", Job: "payout"}
		miners := e.creditedMiners(5)
		held := newGate("before-intent")
		db := e.newDB()
		first := e.background(func() error {
			_, err := Recorded(ctx, job, func(ctx context.Context, _ *Record) error {
				_, err := e.payCtx(ctx, db, held)
				return err
			})
			return err
		}, held)
		first.waitAt(t, held)

		// The second run would meet the advisory lock inside; that it
		// never gets there shows the Consul lock turned it away.
		entered := false
		rec, err := Recorded(ctx, job, func(ctx context.Context, _ *Record) error {
			entered = true
			_, err := e.payCtx(ctx, e.newDB())
			return err
		})
		require.NoError(t, err, "a run that finds the lock held is not a failure")
		assert.False(t, entered, "the second run never got past the Consul lock")
		assert.Equal(t, "skipped", rec.Outcome)
		assert.Contains(t, rec.Message, contract.LockKey("test", "ltc", "payout"))
		// Two holders of the lock itself: the second is refused.
		_, _, err = takeLock(ctx, consul, contract.LockKey("test", "ltc", "payout"))
		require.ErrorIs(t, err, errConsulLockHeld)

		held.open()
		require.NoError(t, first.wait())
		e.assertExactlyOnce(miners)
		// The first run let the lock go: the next run gets in.
		_, err = Recorded(ctx, job, func(context.Context, *Record) error {
			entered = true
			return nil
		})
		require.NoError(t, err)
		assert.True(t, entered, "the lock is free again once the first run ended")
		e.mine(1)
	})
}

// creditedMiners are n new miner addresses whose shares end a block that
// is credited.
func (e *payEnv) creditedMiners(n int) []string {
	miners := e.minerAddresses(n)
	shares := map[string]float64{}
	for _, m := range miners {
		shares[m] = 1
	}
	e.found(shares)
	require.Equal(e.t, 1, e.track().Confirmed)
	return miners
}

// newDB is a database pool of its own, as a run in a process of its own
// has.
func (e *payEnv) newDB() *pgxpool.Pool {
	db, err := pgxpool.New(context.Background(), e.dsn)
	require.NoError(e.t, err)
	e.t.Cleanup(db.Close)
	return db
}

// pay runs Pay, held at the gates' steps.
func (e *payEnv) pay(db *pgxpool.Pool, gates ...*gate) (PayResult, error) {
	return e.payCtx(context.Background(), db, gates...)
}

func (e *payEnv) payCtx(ctx context.Context, db *pgxpool.Pool, gates ...*gate) (PayResult, error) {
	o := testPayOptions()
	o.AtStep = func(step string) {
		for _, g := range gates {
			g.at(step)
		}
	}
	return Pay(ctx, db, e.pool, o)
}

// payouts counts the payouts written, whatever became of them.
func (e *payEnv) payouts() int {
	var n int
	require.NoError(e.t, e.db.QueryRow(context.Background(), `SELECT count(*) FROM payouts`).Scan(&n))
	return n
}

// endAdvisoryLockSession ends the database session holding the payout
// advisory lock, and returns once it is gone (and the lock with it).
func (e *payEnv) endAdvisoryLockSession() {
	var ended bool
	require.NoError(e.t, e.db.QueryRow(context.Background(), `
		SELECT pg_terminate_backend(pid, 60000) FROM pg_locks
		WHERE locktype = 'advisory' AND classid::bigint = $1 AND granted`, int64(payoutLockClass)).Scan(&ended),
		"a session holds the payout lock")
	require.True(e.t, ended, "the session holding the payout lock ended")
}

// gate holds a run at one step, the first time it gets there: reached is
// closed then, and the run goes on once the gate is opened.
type gate struct {
	step            string
	reached, opened chan struct{}
	arrive, leave   sync.Once
}

func newGate(step string) *gate {
	return &gate{step: step, reached: make(chan struct{}), opened: make(chan struct{})}
}

func (g *gate) at(step string) {
	if step != g.step {
		return
	}
	g.arrive.Do(func() {
		close(g.reached)
		<-g.opened
	})
}

func (g *gate) open() { g.leave.Do(func() { close(g.opened) }) }

// run is something running in the background of a test.
type run struct {
	done chan struct{}
	err  error
}

// background runs f; the test's end opens the gates that may hold it and
// waits for it.
func (e *payEnv) background(f func() error, gates ...*gate) *run {
	r := &run{done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.err = f()
	}()
	e.t.Cleanup(func() {
		for _, g := range gates {
			g.open()
		}
		<-r.done
	})
	return r
}

// waitAt waits until the run is held at g; a run that ends first fails
// the test.
func (r *run) waitAt(t *testing.T, g *gate) {
	t.Helper()
	select {
	case <-g.reached:
	case <-r.done:
		require.FailNow(t, "the run ended before reaching "+g.step, "%v", r.err)
	}
}

func (r *run) wait() error {
	<-r.done
	return r.err
}

func TestPayoutFaults(t *testing.T) {
	e := newPayEnv(t)
	ctx := context.Background()
	pay := func(w Wallet, o PayOptions) (PayResult, error) { return Pay(ctx, e.db, w, o) }

	t.Run("invalid address is held, the rest are paid", func(t *testing.T) {
		e.t = t
		miners := e.minerAddresses(2)
		bad := "ltc1qnotanaddressatall"
		e.found(map[string]float64{miners[0]: 1, miners[1]: 1, bad: 1})
		require.Equal(t, 1, e.track().Confirmed)
		res, err := pay(e.pool, testPayOptions())
		require.NoError(t, err)
		assert.Contains(t, res.Held[bad], "not a regtest address")
		e.assertExactlyOnce(miners)
		_, _, owed := e.ledgerOf(bad)
		assert.Positive(t, owed, "the held miner's balance is kept")
		e.mine(1)
	})
	t.Run("one script spelled two ways: both balances paid, in two transactions", func(t *testing.T) {
		e.t = t
		ctx := context.Background()
		var lower string
		require.NoError(t, e.miner.Call(ctx, "getnewaddress", []any{"", "bech32"}, &lower))
		upper := strings.ToUpper(lower)
		e.found(map[string]float64{lower: 1, upper: 1})
		require.Equal(t, 1, e.track().Confirmed)
		res, err := pay(e.pool, testPayOptions())
		require.NoError(t, err, "the wallet refuses one sendmany paying both spellings")
		require.Len(t, res.Payouts, 2, "one transaction per spelling")
		var open int
		require.NoError(t, e.db.QueryRow(ctx, `SELECT count(*) FROM payouts WHERE status = 'intent'`).Scan(&open))
		assert.Zero(t, open, "no payout is left open")
		var paidTotal int64
		for _, a := range []string{lower, upper} {
			credited, paid, owed := e.ledgerOf(a)
			assert.Positive(t, credited, "%s was credited", a)
			assert.Equal(t, credited, paid, "%s: paid what was credited", a)
			assert.Zero(t, owed, "%s owes nothing", a)
			paidTotal += paid
		}
		assert.Equal(t, paidTotal, e.received(lower), "the script received on chain what both balances were paid")
		e.mine(1)
	})
	t.Run("insufficient funds: paid as far as the wallet can, the rest waits", func(t *testing.T) {
		e.t = t
		miners := e.creditedMiner()
		o := testPayOptions()
		var balance json.Number
		require.NoError(t, e.pool.Call(ctx, "getbalance", nil, &balance))
		all, err := Units(balance, unitsPerCoin)
		require.NoError(t, err)
		o.Reserve = all // nothing left to pay with
		res, err := pay(e.pool, o)
		require.NoError(t, err)
		assert.Contains(t, res.Waiting, "insufficient funds")
		assert.Empty(t, res.Payouts)
		_, paid, owed := e.ledgerOf(miners[0])
		assert.Zero(t, paid)
		assert.Positive(t, owed)
		// With the reserve back to normal it is paid.
		_, err = pay(e.pool, testPayOptions())
		require.NoError(t, err)
		e.assertExactlyOnce(miners)
		e.mine(1)
	})
	t.Run("unreachable wallet: a clear error, nothing written", func(t *testing.T) {
		e.t = t
		miners := e.creditedMiner()
		dead := chain.NewClient("127.0.0.1:1", "x", "y")
		_, err := pay(dead, testPayOptions())
		require.Error(t, err)
		assert.Contains(t, err.Error(), "ask the wallet", "the error says the wallet did not answer")
		var open int
		require.NoError(t, e.db.QueryRow(ctx, `SELECT count(*) FROM payouts WHERE status = 'intent'`).Scan(&open))
		assert.Zero(t, open)
		_, err = pay(e.pool, testPayOptions())
		require.NoError(t, err)
		e.assertExactlyOnce(miners)
		e.mine(1)
	})
	t.Run("database outage: a clear error, then paid once it is back", func(t *testing.T) {
		e.t = t
		miners := e.creditedMiner()
		e.pg.Stop()
		_, err := pay(e.pool, testPayOptions())
		require.Error(t, err)
		assert.Contains(t, err.Error(), "database")
		e.pg.Start()
		// The pool's connections died with the server; a run is a new
		// process in production, here the pool replaces them.
		require.Eventually(t, func() bool {
			_, err = pay(e.pool, testPayOptions())
			return err == nil
		}, 20*time.Second, 200*time.Millisecond, "paid once the database is back: %v", err)
		e.assertExactlyOnce(miners)
	})
}
