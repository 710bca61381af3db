package payout

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCoinsAndUnits(t *testing.T) {
	cases := []struct {
		units int64
		coins string
	}{
		{0, "0.00000000"},
		{1, "0.00000001"},
		{10_000_000, "0.10000000"},
		{1_250_000_000, "12.50000000"},
		{-5, "-0.00000005"},
	}
	for _, tc := range cases {
		assert.Equal(t, json.Number(tc.coins), Coins(tc.units, 100_000_000))
		u, err := Units(json.Number(tc.coins), 100_000_000)
		require.NoError(t, err)
		assert.Equal(t, tc.units, u)
	}
	for in, want := range map[string]int64{"12.5": 1_250_000_000, "0.1": 10_000_000, "3": 300_000_000, "0.00010000": 10_000} {
		u, err := Units(json.Number(in), 100_000_000)
		require.NoError(t, err, in)
		assert.Equal(t, want, u, in)
	}
	_, err := Units("0.000000001", 100_000_000)
	assert.ErrorContains(t, err, "not a whole number of units")
}
