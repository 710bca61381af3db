package ledger

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// These run without a database: Add and AddBlock never touch it.

func TestAddReturnsErrBufferFullWhenFull(t *testing.T) {
	w := NewWriter(nil, WriterOptions{BufferShares: 3})
	for i := range 3 {
		require.NoError(t, w.Add(testShare(i)))
	}
	for i := 3; i < 6; i++ {
		require.ErrorIs(t, w.Add(testShare(i)), ErrBufferFull)
	}
	s := w.Stats()
	assert.Equal(t, 3, s.Buffered)
	assert.Equal(t, uint64(3), s.Rejected)
	assert.Zero(t, s.Dropped)
}

func TestAddBlockIsNeverRefusedForRoom(t *testing.T) {
	w := NewWriter(nil, WriterOptions{BufferShares: 1})
	require.NoError(t, w.Add(testShare(0)))
	for i := range 1000 {
		require.NoError(t, w.AddBlock(Block{Coin: "ltc", Height: int64(i), Hash: fmt.Sprintf("%064x", i), Reward: 1}))
	}
	assert.Equal(t, 1000, w.Stats().BlocksPending)
}

func TestAddRefusesWhatTheDatabaseCouldNotStore(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Share)
	}{
		{"no key", func(s *Share) { s.Key = "" }},
		{"no coin", func(s *Share) { s.Coin = "" }},
		{"no address", func(s *Share) { s.Address = "" }},
		{"zero difficulty", func(s *Share) { s.Difficulty = 0 }},
		{"NaN difficulty", func(s *Share) { s.Difficulty = math.NaN() }},
		{"infinite difficulty", func(s *Share) { s.Difficulty = math.Inf(1) }},
		{"NaN network difficulty", func(s *Share) { s.NetworkDifficulty = math.NaN() }},
		{"negative height", func(s *Share) { s.Height = -1 }},
		{"NUL in worker", func(s *Share) { s.Worker = "rig\x001" }},
		{"invalid UTF-8 in worker", func(s *Share) { s.Worker = "rig\xff" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := NewWriter(nil, WriterOptions{})
			s := testShare(0)
			tt.change(&s)
			require.ErrorIs(t, w.Add(s), ErrInvalid)
			assert.Zero(t, w.Stats().Buffered)
		})
	}
}

func TestAddBlockRefusesWhatTheDatabaseCouldNotStore(t *testing.T) {
	w := NewWriter(nil, WriterOptions{})
	require.ErrorIs(t, w.AddBlock(Block{Coin: "ltc", Height: 1}), ErrInvalid, "no hash")
	require.ErrorIs(t, w.AddBlock(Block{Coin: "ltc", Height: 1, Hash: "h", Reward: -1}), ErrInvalid)
	require.ErrorIs(t, w.AddBlock(Block{Coin: "ltc", Height: 1, Hash: "h", Worker: "\x00"}), ErrInvalid)
	assert.Zero(t, w.Stats().BlocksPending)
}
