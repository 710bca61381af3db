package ledger

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/testenv"
)

// fastRetry keeps outage tests short; the defaults suit production.
var fastRetry = WriterOptions{
	FlushInterval:   50 * time.Millisecond,
	RetryBackoffMin: 20 * time.Millisecond,
	RetryBackoffMax: 200 * time.Millisecond,
	WriteTimeout:    2 * time.Second,
}

// runWriter migrates, starts w.Run and returns a function that stops it
// and returns Run's result.
func runWriter(t *testing.T, pool *pgxpool.Pool, opts WriterOptions) (*Writer, func() error) {
	t.Helper()
	ctx := testContext(t)
	require.NoError(t, Migrate(ctx, pool))
	w := NewWriter(pool, opts)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(runCtx) }()
	var once sync.Once
	var err error
	stop := func() error {
		once.Do(func() {
			cancel()
			err = <-done
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return w, stop
}

func storedKeys(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, err := pool.Query(testContext(t), `SELECT share_key FROM shares ORDER BY id`)
	require.NoError(t, err)
	keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return keys
}

// requireStoredOnce checks that exactly the accepted keys are stored,
// each once.
func requireStoredOnce(t *testing.T, pool *pgxpool.Pool, accepted []string) {
	t.Helper()
	stored := storedKeys(t, pool)
	count := map[string]int{}
	for _, k := range stored {
		count[k]++
	}
	var missing, doubled []string
	for _, k := range accepted {
		switch count[k] {
		case 0:
			missing = append(missing, k)
		case 1:
		default:
			doubled = append(doubled, k)
		}
	}
	require.Empty(t, missing, "accepted shares not stored")
	require.Empty(t, doubled, "shares stored more than once")
	require.Len(t, stored, len(accepted), "stored shares that were never accepted")
}

func waitForFailedAttempt(t *testing.T, w *Writer, after uint64) {
	t.Helper()
	require.Eventually(t, func() bool { return w.Stats().FailedAttempts > after }, time.Minute, 10*time.Millisecond,
		"the writer never tried the unavailable database")
}

func TestWriterWritesBatchesExactlyOnce(t *testing.T) {
	testenv.Integration(t)
	t.Parallel()
	_, pool := startDatabase(t)
	opts := fastRetry
	opts.BatchSize = 100
	w, _ := runWriter(t, pool, opts)

	share := func(i int) Share {
		s := testShare(i)
		s.At = time.Unix(1_700_000_000+int64(i), 0)
		return s
	}
	var accepted []string
	for i := range 1050 {
		require.NoError(t, w.Add(share(i)))
		accepted = append(accepted, share(i).Key)
	}
	// A producer repeating shares (a retry on its side) must not double them.
	for i := range 50 {
		require.NoError(t, w.Add(share(i)))
	}
	require.NoError(t, w.Flush(testContext(t)))

	assert.Equal(t, accepted, storedKeys(t, pool), "stored once each, ids in acceptance order")
	s := w.Stats()
	assert.Equal(t, uint64(1100), s.Written)
	assert.Equal(t, uint64(50), s.Duplicates)
	assert.Zero(t, s.Buffered)

	var workers int
	var first, last time.Time
	ctx := testContext(t)
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*), min(first_seen), max(last_seen) FROM workers`).Scan(&workers, &first, &last))
	assert.Equal(t, 7, workers)
	assert.True(t, first.Equal(time.Unix(1_700_000_000, 0)), "first_seen %v", first)
	assert.True(t, last.Equal(time.Unix(1_700_000_000+1049, 0)), "last_seen %v", last)
}

func TestWriterConcurrentAdd(t *testing.T) {
	testenv.Integration(t)
	t.Parallel()
	_, pool := startDatabase(t)
	w, _ := runWriter(t, pool, fastRetry)

	const producers, each = 32, 300
	var wg sync.WaitGroup
	var mu sync.Mutex
	var accepted []string
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				s := testShare(p*each + i)
				if err := w.Add(s); err != nil {
					t.Errorf("add %s: %v", s.Key, err)
					return
				}
				mu.Lock()
				accepted = append(accepted, s.Key)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	require.NoError(t, w.Flush(testContext(t)))
	require.Len(t, accepted, producers*each)
	requireStoredOnce(t, pool, accepted)
}

// producer adds shares as fast as it can until stopped and remembers
// which were accepted.
type producer struct {
	stop     chan struct{}
	done     chan struct{}
	accepted []string
	refused  int
}

func startProducer(w *Writer) *producer {
	p := &producer{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for i := 0; ; i++ {
			select {
			case <-p.stop:
				return
			default:
			}
			s := testShare(i)
			switch err := w.Add(s); {
			case err == nil:
				p.accepted = append(p.accepted, s.Key)
			case errors.Is(err, ErrBufferFull):
				p.refused++
			default:
				panic(err)
			}
			if i%5 == 0 {
				time.Sleep(time.Millisecond) // a busy pool's pace, not a busy loop
			}
		}
	}()
	return p
}

func (p *producer) finish() []string {
	close(p.stop)
	<-p.done
	return p.accepted
}

func TestWriterLosesNothingWhileTheDatabaseRestarts(t *testing.T) {
	testenv.Integration(t)
	t.Parallel()
	pg, pool := startDatabase(t)
	w, _ := runWriter(t, pool, fastRetry)

	p := startProducer(w)
	require.Eventually(t, func() bool { return w.Stats().Written > 500 }, time.Minute, 10*time.Millisecond)
	pg.Stop()
	before := w.Stats().FailedAttempts
	waitForFailedAttempt(t, w, before)
	waitForFailedAttempt(t, w, before+2) // several retries while down
	pg.Start()
	require.Eventually(t, func() bool { return w.Stats().Written > 0 && w.Stats().Buffered < 100 }, time.Minute, 10*time.Millisecond,
		"the writer catches up after the database returns")
	accepted := p.finish()
	require.NoError(t, w.Flush(testContext(t)))

	requireStoredOnce(t, pool, accepted)
	s := w.Stats()
	assert.Zero(t, p.refused, "the buffer was large enough for the outage")
	assert.Zero(t, s.Dropped)
	assert.Error(t, s.LastError)
	t.Logf("accepted %d shares, %d failed attempts, last error: %v", len(accepted), s.FailedAttempts, s.LastError)
}

func TestWriterFrozenDatabaseAppliesBackPressure(t *testing.T) {
	testenv.Integration(t)
	t.Parallel()
	pg, pool := startDatabase(t)
	opts := fastRetry
	opts.BufferShares, opts.BatchSize = 500, 100
	w, _ := runWriter(t, pool, opts)

	pg.Freeze()
	// Add runs beside the test so that a hang would show as a missing
	// answer rather than a stuck test.
	type result struct {
		accepted []string
		err      error
	}
	answered := make(chan result, 1)
	go func() {
		var r result
		for i := 0; ; i++ {
			s := testShare(i)
			if r.err = w.Add(s); r.err != nil {
				break
			}
			r.accepted = append(r.accepted, s.Key)
		}
		answered <- r
	}()
	var r result
	select {
	case r = <-answered:
	case <-time.After(time.Minute):
		pg.Thaw()
		require.FailNow(t, "Add blocked on a frozen database")
	}
	require.ErrorIs(t, r.err, ErrBufferFull)
	assert.Len(t, r.accepted, 500, "the buffer fills to its bound while nothing can be written")
	assert.ErrorIs(t, w.Add(testShare(10_000)), ErrBufferFull, "and stays full while the database is frozen")
	assert.Equal(t, 500, w.Stats().Buffered)

	pg.Thaw()
	require.NoError(t, w.Flush(testContext(t)))
	requireStoredOnce(t, pool, r.accepted)
	require.NoError(t, w.Add(testShare(10_000)), "room again once written")
}

func TestWriterRecordsABlockFoundWhileTheDatabaseIsDown(t *testing.T) {
	testenv.Integration(t)
	t.Parallel()
	pg, pool := startDatabase(t)
	w, _ := runWriter(t, pool, fastRetry)
	for i := range 10 {
		require.NoError(t, w.Add(testShare(i)))
	}
	require.NoError(t, w.Flush(testContext(t)))

	pg.Stop()
	found := testShare(10)
	found.Key = "block-share"
	require.NoError(t, w.Add(found))
	require.NoError(t, w.Add(testShare(11)), "a share after the block does not belong to its window")
	block := Block{Coin: "ltc", Height: 100, Hash: fmt.Sprintf("%064x", 100), Address: "addr", Worker: "w3",
		Reward: 625_000_000, Wallet: "ltc-wallet-1", ShareKey: found.Key}
	require.NoError(t, w.AddBlock(block))
	waitForFailedAttempt(t, w, w.Stats().FailedAttempts)
	assert.Equal(t, 1, w.Stats().BlocksPending)
	pg.Start()
	require.NoError(t, w.Flush(testContext(t)))

	ctx := testContext(t)
	var shareID, blockShareID, reward int64
	var status, wallet string
	require.NoError(t, pool.QueryRow(ctx, `SELECT id FROM shares WHERE share_key = $1`, found.Key).Scan(&shareID))
	require.NoError(t, pool.QueryRow(ctx, `SELECT share_id, reward, status, wallet FROM blocks WHERE hash = $1`, block.Hash).
		Scan(&blockShareID, &reward, &status, &wallet))
	assert.Equal(t, shareID, blockShareID, "the block's PPLNS window ends at the share that found it")
	assert.Equal(t, block.Reward, reward)
	assert.Equal(t, "pending", status)
	assert.Equal(t, block.Wallet, wallet)
	assert.Equal(t, uint64(1), w.Stats().BlocksWritten)
}

func TestWriterFlushesOnShutdown(t *testing.T) {
	testenv.Integration(t)
	t.Parallel()
	_, pool := startDatabase(t)
	opts := fastRetry
	opts.FlushInterval = time.Hour // only the shutdown writes
	w, stop := runWriter(t, pool, opts)

	var accepted []string
	for i := range 250 {
		require.NoError(t, w.Add(testShare(i)))
		accepted = append(accepted, testShare(i).Key)
	}
	require.NoError(t, w.AddBlock(Block{Coin: "ltc", Height: 7, Hash: "h7", ShareKey: testShare(249).Key}))
	require.NoError(t, stop())
	requireStoredOnce(t, pool, accepted)
	assert.Equal(t, uint64(1), w.Stats().BlocksWritten)
	assert.ErrorIs(t, w.Add(testShare(250)), ErrClosed)
	assert.ErrorIs(t, w.AddBlock(Block{Coin: "ltc", Hash: "h8"}), ErrClosed)
}

func TestWriterReportsWhatTheShutdownDeadlineLost(t *testing.T) {
	testenv.Integration(t)
	t.Parallel()
	pg, pool := startDatabase(t)
	opts := fastRetry
	opts.ShutdownTimeout = 300 * time.Millisecond
	w, stop := runWriter(t, pool, opts)

	pg.Stop()
	for i := range 10 {
		require.NoError(t, w.Add(testShare(i)))
	}
	require.NoError(t, w.AddBlock(Block{Coin: "ltc", Height: 7, Hash: "h7"}))
	err := stop()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "10 shares and 1 blocks unwritten")
	s := w.Stats()
	assert.Equal(t, uint64(10), s.Dropped)
	assert.Equal(t, uint64(1), s.BlocksDropped)
	assert.ErrorIs(t, w.Flush(testContext(t)), ErrClosed)
}
