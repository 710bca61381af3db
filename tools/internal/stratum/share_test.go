package stratum

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// remembered is how many shares a job keeps for duplicate detection.
func (j *Job) remembered() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.seen)
}

// Shares that miss their difficulty cost the server nothing to keep: a
// job remembers only shares it accepted, and a valid share sent twice is
// still refused as a duplicate. Garbage submits once went into the
// job's duplicate set before their difficulty was checked.
func TestOnlyAcceptedSharesAreRemembered(t *testing.T) {
	cfg := testConfig()
	cfg.MaxBadMessages = 1000
	h := startServer(t, cfg)
	j := h.srv.Publish(work(t, tipA, hardBits), "w1", true)
	c, en1 := subscribed(t, h, regtestAddress)

	const garbage = 50
	for i := uint32(0); i < garbage; i++ {
		res := c.call("mining.submit", withWorker(lowShare(t, j, en1, 1000+i, 0.001), regtestAddress)...)
		require.Equal(t, CodeLowDifficulty, errorCode(res), "share %d: %v", i, res)
	}
	assert.Zero(t, j.remembered(), "shares below the difficulty are not remembered")

	good := withWorker(solve(t, j, en1, 1, 0.001), regtestAddress)
	assert.Equal(t, true, c.call("mining.submit", good...)["result"])
	assert.Equal(t, CodeDuplicate, errorCode(c.call("mining.submit", good...)), "a valid share sent again")
	assert.Equal(t, 1, j.remembered())

	// A share refused as low difficulty, sent again, is low difficulty
	// again: it was never taken for a share.
	low := withWorker(lowShare(t, j, en1, 1000, 0.001), regtestAddress)
	assert.Equal(t, CodeLowDifficulty, errorCode(c.call("mining.submit", low...)))
	shares, _ := h.sink.count()
	assert.Equal(t, 1, shares)
}
