package ledger

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/journal"
	"github.com/scryptpool/poolmicrocloud/tools/internal/testenv"
)

func openJournal(t *testing.T, dir string) *journal.Journal {
	t.Helper()
	j, err := journal.Open(dir, journal.Options{SegmentBytes: 8 << 10})
	require.NoError(t, err)
	t.Cleanup(func() { _ = j.Close() })
	return j
}

// TestJournalKeepsWhatTheDatabaseNeverGot is a stratum server that
// accepted shares and a block while the database was down and then died
// without a shutdown (SIGKILL, a power cut): the next process replays
// them and every one is stored once, the ones stored before included.
func TestJournalKeepsWhatTheDatabaseNeverGot(t *testing.T) {
	testenv.Integration(t)
	t.Parallel()
	pg, pool := startDatabase(t)
	dir := t.TempDir()

	// The first process: 300 shares stored, then the database goes away,
	// 200 shares and a block are accepted, and the process dies.
	j1 := openJournal(t, dir)
	opts := fastRetry
	opts.BatchSize = 64
	opts.ShutdownTimeout = 100 * time.Millisecond
	opts.Journal = j1
	w1, stop1 := runWriter(t, pool, opts)
	var accepted []string
	for i := range 300 {
		require.NoError(t, w1.Add(testShare(i)))
		accepted = append(accepted, testShare(i).Key)
	}
	require.NoError(t, w1.Flush(testContext(t)))
	assert.Zero(t, j1.Stats().Bytes, "what the database holds is released")

	pg.Stop()
	for i := 300; i < 500; i++ {
		require.NoError(t, w1.Add(testShare(i)))
		accepted = append(accepted, testShare(i).Key)
	}
	block := Block{Coin: "ltc", Height: 9, Hash: fmt.Sprintf("%064x", 9), Address: "addr", Worker: "w1",
		Reward: 625_000_000, Wallet: "ltc-wallet-1", ShareKey: testShare(499).Key}
	require.NoError(t, w1.AddBlock(block))
	waitForFailedAttempt(t, w1, 0)
	// Dead: it stops with the database still away, so its buffer cannot
	// reach the database (it writes nothing more), and only the journal
	// holds what it accepted.
	require.NoError(t, stop1())
	assert.Equal(t, uint64(200), w1.Stats().Dropped, "the first process wrote none of them")
	require.NoError(t, j1.Close())

	pg.Start()
	j2 := openJournal(t, dir)
	opts.Journal = j2
	w2, stop2 := runWriter(t, pool, opts)
	shares, blocks, err := w2.Replay()
	require.NoError(t, err)
	assert.Equal(t, 200, shares, "the shares the database never got")
	assert.Equal(t, 1, blocks)
	require.NoError(t, w2.Flush(testContext(t)))
	require.NoError(t, stop2())
	requireStoredOnce(t, pool, accepted)

	var shareID, blockShareID int64
	ctx := testContext(t)
	require.NoError(t, pool.QueryRow(ctx, `SELECT id FROM shares WHERE share_key = $1`, block.ShareKey).Scan(&shareID))
	require.NoError(t, pool.QueryRow(ctx, `SELECT share_id FROM blocks WHERE hash = $1`, block.Hash).Scan(&blockShareID))
	assert.Equal(t, shareID, blockShareID, "the replayed block's window ends at its share")
	require.NoError(t, j2.Close())

	// Stored, so released: a third start replays nothing.
	j3 := openJournal(t, dir)
	r, err := j3.Replay(func([]byte) (uint64, error) { return 1, nil })
	require.NoError(t, err)
	assert.Zero(t, r.Records)
}

// TestJournalShutdownDeadlineLosesNothing: with a journal, what the final
// flush could not write waits for the next start instead of being lost.
func TestJournalShutdownDeadlineLosesNothing(t *testing.T) {
	testenv.Integration(t)
	t.Parallel()
	pg, pool := startDatabase(t)
	dir := t.TempDir()
	j1 := openJournal(t, dir)
	opts := fastRetry
	opts.ShutdownTimeout = 300 * time.Millisecond
	opts.Journal = j1
	w1, stop1 := runWriter(t, pool, opts)
	pg.Stop()
	var accepted []string
	for i := range 10 {
		require.NoError(t, w1.Add(testShare(i)))
		accepted = append(accepted, testShare(i).Key)
	}
	require.NoError(t, stop1(), "nothing lost: the journal holds them")
	assert.Equal(t, uint64(10), w1.Stats().Dropped)
	require.NoError(t, j1.Close())

	pg.Start()
	opts.Journal = openJournal(t, dir)
	w2, _ := runWriter(t, pool, opts)
	shares, _, err := w2.Replay()
	require.NoError(t, err)
	assert.Equal(t, 10, shares)
	require.NoError(t, w2.Flush(testContext(t)))
	requireStoredOnce(t, pool, accepted)
}
