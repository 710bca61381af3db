package poolapi

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The cache's lifetimes on a clock of the test's: fresh answers are
// kept, an answer up to one ttl past its time is served while one
// computation of the new runs in the background, an older one is
// waited for, errors are never kept, and a negative ttl keeps nothing.
func TestCacheLifetimes(t *testing.T) {
	var mu sync.Mutex
	clock := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	advance := func(d time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		clock = clock.Add(d)
	}
	c := newCache(10*time.Second, 100, 1<<20, func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return clock
	})
	var loads atomic.Int64
	release := make(chan struct{})
	load := func() (cached, error) {
		n := loads.Add(1)
		if n == 2 {
			<-release // the background computation, held until the test lets it go
		}
		return cached{status: int(n)}, nil
	}
	get := func() int {
		t.Helper()
		v, err := c.get(context.Background(), "k", load)
		require.NoError(t, err)
		return v.status
	}

	assert.Equal(t, 1, get(), "a miss computes")
	advance(9 * time.Second)
	assert.Equal(t, 1, get(), "fresh")
	advance(time.Second)
	assert.Equal(t, 1, get(), "expired: the old answer while the new is computed")
	assert.Equal(t, 1, get(), "still the old one while the computation runs")
	require.Eventually(t, func() bool { return loads.Load() == 2 }, 5*time.Second, time.Millisecond)
	close(release)
	require.Eventually(t, func() bool { return get() == 2 }, 5*time.Second, time.Millisecond, "the new answer once computed")
	assert.Equal(t, int64(2), loads.Load(), "one computation in the background")

	advance(20 * time.Second)
	assert.Equal(t, 3, get(), "more than one ttl past its time: waited for")

	failing := errors.New("database down")
	_, err := c.get(context.Background(), "bad", func() (cached, error) { return cached{}, failing })
	assert.ErrorIs(t, err, failing)
	v, err := c.get(context.Background(), "bad", func() (cached, error) { return cached{status: 7}, nil })
	require.NoError(t, err)
	assert.Equal(t, 7, v.status, "errors are not kept")

	none := newCache(-1, 100, 1<<20, time.Now)
	var n int
	for range 3 {
		v, err := none.get(context.Background(), "k", func() (cached, error) { n++; return cached{status: n}, nil })
		require.NoError(t, err)
		assert.Equal(t, n, v.status)
	}
	assert.Equal(t, 3, n, "a negative ttl keeps nothing")
}

// A client that hangs up stops waiting; the computation it started goes
// on, and the next caller gets its answer from the cache.
func TestCacheWaiterLeavesWithItsContext(t *testing.T) {
	c := newCache(10*time.Second, 100, 1<<20, time.Now)
	release := make(chan struct{})
	var loads atomic.Int64
	load := func() (cached, error) {
		loads.Add(1)
		<-release
		return cached{status: 200}, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan error, 2)
	for range 2 { // the caller that starts the computation, and one that joins it
		go func() {
			_, err := c.get(ctx, "k", load)
			errs <- err
		}()
	}
	require.Eventually(t, func() bool { return loads.Load() == 1 }, 5*time.Second, time.Millisecond)
	cancel()
	for range 2 {
		assert.ErrorIs(t, <-errs, context.Canceled)
	}
	close(release)
	v, err := c.get(context.Background(), "k", func() (cached, error) {
		t.Error("a second computation")
		return cached{}, nil
	})
	require.NoError(t, err)
	assert.Equal(t, 200, v.status, "the abandoned computation's answer, kept")
	assert.Equal(t, int64(1), loads.Load())
}

// A client walking through pages fills the cache up to its bounds, in
// entries and in bytes, and no further: the answers due first go, and
// one answer larger than the whole cache is not kept.
func TestCacheBounds(t *testing.T) {
	clock := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	c := newCache(10*time.Second, 8, 4096, func() time.Time { return clock })
	answer := func(n int) func() (cached, error) {
		return func() (cached, error) { return cached{status: 200, body: make([]byte, n)}, nil }
	}
	for i := range 50 {
		clock = clock.Add(time.Millisecond)
		_, err := c.get(context.Background(), "front", answer(100))
		require.NoError(t, err)
		_, err = c.get(context.Background(), fmt.Sprintf("page-%d", i), answer(300))
		require.NoError(t, err)
		assert.LessOrEqual(t, len(c.entries), 8, "entries after %d pages", i)
		assert.LessOrEqual(t, c.bytes, 4096, "bytes after %d pages", i)
	}
	total := 0
	for k, e := range c.entries {
		total += size(k, e)
	}
	assert.Equal(t, total, c.bytes, "the count of bytes follows the entries")
	assert.Contains(t, c.entries, "page-49", "the newest page is kept")
	assert.NotContains(t, c.entries, "page-0", "the oldest page went")

	_, err := c.get(context.Background(), "huge", answer(10_000))
	require.NoError(t, err)
	assert.NotContains(t, c.entries, "huge", "larger than the cache: served, not kept")
	assert.LessOrEqual(t, c.bytes, 4096)
}
