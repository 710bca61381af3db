package ledger

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func testShare(i int) Share {
	return Share{
		Key: fmt.Sprintf("test-%07d", i), Coin: "ltc", Address: "addr", Worker: fmt.Sprintf("w%d", i%7),
		Difficulty: 16, NetworkDifficulty: 1000, Height: 100, Instance: "stratum-0",
	}
}

func TestShareBufferRefusesPastItsLimit(t *testing.T) {
	b := newShareBuffer(3)
	for i := range 3 {
		require.True(t, b.push(testShare(i)))
	}
	assert.False(t, b.push(testShare(3)), "a full buffer refuses")
	assert.Equal(t, 3, b.len())
	assert.Equal(t, uint64(3), b.pushed)

	b.pop(1)
	assert.True(t, b.push(testShare(3)), "a written share frees room")
	assert.False(t, b.push(testShare(4)))
}

func TestShareBufferKeepsOrderAcrossCompaction(t *testing.T) {
	// Enough traffic to cross the compaction threshold many times, with
	// uneven push and pop sizes so the head moves around.
	b := newShareBuffer(20000)
	next, want := 0, 0
	for round := range 200 {
		for range 97 + round%50 {
			require.True(t, b.push(testShare(next)))
			next++
		}
		batch := b.peek(60 + round%90)
		for _, s := range batch {
			require.Equal(t, testShare(want).Key, s.Key, "round %d", round)
			want++
		}
		b.pop(len(batch))
		require.Equal(t, next-want, b.len())
		require.Equal(t, uint64(want), b.popped)
	}
	for b.len() > 0 {
		batch := b.peek(1000)
		for _, s := range batch {
			require.Equal(t, testShare(want).Key, s.Key)
			want++
		}
		b.pop(len(batch))
	}
	assert.Equal(t, next, want)
	assert.Equal(t, b.pushed, b.popped)
}

func TestShareBufferPeekIsACopy(t *testing.T) {
	b := newShareBuffer(10)
	require.True(t, b.push(testShare(0)))
	batch := b.peek(5)
	require.Len(t, batch, 1)
	b.pop(1)
	for i := 1; i < 10; i++ {
		require.True(t, b.push(testShare(i)))
	}
	assert.Equal(t, testShare(0).Key, batch[0].Key, "pushes after peek must not change the batch being written")
}
