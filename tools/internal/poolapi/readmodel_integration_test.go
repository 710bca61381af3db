package poolapi

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The read model answers what the routes answer, from the same cache
// entries: a value read through Store is not computed again for the
// API, nor the other way round.
func TestStoreSharesTheAPIsAnswers(t *testing.T) {
	db := startLedger(t)
	fill(t, db)
	counter := &countingDB{DB: db}
	h := New(testConfig(), counter)
	s := h.Store()
	ctx := context.Background()

	pool, err := s.Pool(ctx, "ltc")
	require.NoError(t, err)
	n := counter.N.Load()
	assert.Equal(t, decode[poolResponse](t, get(t, h, "/api/pools/ltc")).Pool, pool)
	assert.Equal(t, n, counter.N.Load(), "the API's answer came from the Store's cache entry")

	api := decode[MinerStats](t, get(t, h, "/api/pools/ltc/miners/"+minerA))
	n = counter.N.Load()
	m, err := s.Miner(ctx, "ltc", minerA)
	require.NoError(t, err)
	assert.Equal(t, n, counter.N.Load(), "the Store's answer came from the API's cache entry")
	assert.Equal(t, api.PendingBalance, m.PendingBalance)
	assert.Equal(t, api.TotalPaid, m.TotalPaid)

	perf, err := s.PoolPerformance(ctx, "ltc", "Month", "Day")
	require.NoError(t, err)
	assert.Equal(t, decode[poolPerformanceResponse](t, get(t, h, "/api/pools/ltc/performance?r=Month&i=Day")).Stats, perf)

	p, err := s.Paging("page=0&pageSize=2")
	require.NoError(t, err)
	blocks, pages, err := s.Blocks(ctx, "ltc", p)
	require.NoError(t, err)
	paged := decode[struct {
		Result    []Block
		PageCount int64
	}](t, get(t, h, "/api/v2/pools/ltc/blocks?pageSize=2"))
	assert.Equal(t, paged.Result, blocks)
	assert.Equal(t, paged.PageCount, pages)

	payments, pages, err := s.Payments(ctx, "ltc", minerA, Paging{0, 15})
	require.NoError(t, err)
	assert.Equal(t, decode[[]Payment](t, get(t, h, "/api/pools/ltc/miners/"+minerA+"/payments")), payments)
	assert.Equal(t, int64(1), pages)

	known, err := s.MinerKnown(ctx, "ltc", minerB)
	require.NoError(t, err)
	assert.True(t, known)
	known, err = s.MinerKnown(ctx, "ltc", stranger)
	require.NoError(t, err)
	assert.False(t, known, "a valid address that never mined")

	workers, err := s.Workers(ctx, "ltc", minerB)
	require.NoError(t, err)
	require.Len(t, workers, 2)
	names := []string{workers[0].Name, workers[1].Name}
	assert.ElementsMatch(t, []string{"", "gpu"}, names)
	for _, w := range workers {
		var want time.Time
		require.NoError(t, db.QueryRow(ctx, `SELECT max(submitted_at) FROM shares WHERE address = $1 AND worker = $2`, minerB, w.Name).Scan(&want))
		assert.True(t, want.Equal(w.LastSeen), "worker %q last seen at its last share", w.Name)
	}
}

// The Store refuses what the routes refuse, before the database.
func TestStoreRefusesBadArguments(t *testing.T) {
	h := New(testConfig(), noDatabase{t})
	s := h.Store()
	ctx := context.Background()

	_, err := s.Pool(ctx, "doge")
	assert.ErrorIs(t, err, ErrUnknownPool)

	var bad *ParamError
	_, err = s.CanonicalAddress("ltc", "LVuDpNCSSj6pQ7t9Pv6d6sUkLKoqDEVUnX")
	require.True(t, errors.As(err, &bad), "%v", err)
	assert.Equal(t, "address", bad.Name)
	assert.Contains(t, bad.Reason, "is not a mainnet address")

	_, err = s.Miner(ctx, "ltc", "nonsense")
	assert.True(t, errors.As(err, &bad))

	for _, raw := range []string{"page=-1", "page=x", "pageSize=0", "pageSize=101", "page=1&page=2", "page=1000001"} {
		_, err := s.Paging(raw)
		assert.True(t, errors.As(err, &bad), raw)
	}
	_, _, err = s.Blocks(ctx, "ltc", Paging{Page: 0, Size: 1000})
	assert.True(t, errors.As(err, &bad), "a Paging built by hand is checked too")

	allowed, _ := h.Allow(&http.Request{RemoteAddr: "127.0.0.1:1"})
	assert.True(t, allowed, "loopback is not limited by default")
}

// An address the pool never saw costs the database one lookup by key,
// not the miner's queries over the day's shares (any valid address is
// free to make): MiningCore's answer of zeros, and no samples.
func TestUnknownMinerCostsOneLookup(t *testing.T) {
	db := startLedger(t)
	fill(t, db)
	counter := &countingDB{DB: db}
	h := New(testConfig(), counter)
	for _, path := range []string{"/api/pools/ltc/miners/" + stranger, "/api/pools/ltc/miners/" + stranger + "/performance"} {
		n := counter.N.Load()
		rec := get(t, h, path)
		require.Equal(t, http.StatusOK, rec.Code, path)
		assert.Equal(t, n+1, counter.N.Load(), "%s: one query", path)
	}
	m := decode[MinerStats](t, get(t, h, "/api/pools/ltc/miners/"+stranger+"?perfMode=Hour"))
	assert.Equal(t, "0.00000000", m.PendingBalance.String())
	assert.Empty(t, m.PerformanceSamples)
	perf := decode[[]WorkerPerformance](t, get(t, h, "/api/pools/ltc/miners/"+stranger+"/performance?mode=Month"))
	assert.NotNil(t, perf)
	assert.Empty(t, perf)

	// A miner the pool knows still gets its figures.
	known := decode[MinerStats](t, get(t, h, "/api/pools/ltc/miners/"+minerA))
	assert.NotEmpty(t, known.PerformanceSamples)
}
