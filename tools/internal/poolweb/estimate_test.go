package poolweb

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/scryptpool/poolmicrocloud/tools/internal/poolapi"
)

func TestEstimateEarnings(t *testing.T) {
	blocks := func(rewards ...string) []poolapi.Block {
		var out []poolapi.Block
		for _, r := range rewards {
			out = append(out, poolapi.Block{Status: "confirmed", Reward: json.Number(r)})
		}
		return out
	}
	orphan := poolapi.Block{Status: "orphaned", Reward: "100"}
	// At 2^32 H/s a day's hashes are 86400 x 2^32: at difficulty 86400,
	// one block a day.
	oneBlockADay := float64(1 << 32)
	cases := []struct {
		name       string
		hashrate   float64
		difficulty float64
		fee        float64
		recent     []poolapi.Block
		perDay     float64
		used       int
		missing    string
	}{
		{"one block a day", oneBlockADay, 86400, 0, blocks("6.25"), 6.25, 1, ""},
		{"fee taken", oneBlockADay, 86400, 1, blocks("6.25"), 6.1875, 1, ""},
		{"average reward, orphans left out", oneBlockADay / 2, 86400, 0, append(blocks("6", "8"), orphan), 3.5, 2, ""},
		{"unparsable rewards left out", oneBlockADay, 86400, 0, blocks("x", "NaN", "-1", "5"), 5, 1, ""},
		{"idle miner", 0, 86400, 1, blocks("6.25"), 0, 1, "no shares from this address in the last 10 minutes"},
		{"NaN hashrate", math.NaN(), 86400, 1, blocks("6.25"), 0, 1, "no shares from this address in the last 10 minutes"},
		{"no difficulty", 1000, 0, 1, blocks("6.25"), 0, 1, "the network's difficulty is not known yet"},
		{"no blocks", 1000, 15, 1, nil, 0, 0, "the pool has found no block yet to know a block's reward"},
		{"only orphans", 1000, 15, 1, []poolapi.Block{orphan}, 0, 0, "the pool has found no block yet to know a block's reward"},
		{"fee of 100", 1000, 15, 100, blocks("6.25"), 0, 1, "the pool's fee is not a percentage below 100"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := estimateEarnings(c.hashrate, c.difficulty, c.fee, c.recent)
			assert.Equal(t, c.missing, e.Missing)
			assert.InDelta(t, c.perDay, e.PerDay, 1e-9)
			assert.Equal(t, c.used, e.Blocks)
		})
	}
}

func TestFormatCoins(t *testing.T) {
	cases := []struct {
		in   float64
		want string
	}{
		{0, "0"},
		{6.1875, "6.188"},
		{0.012345678, "0.01235"},
		{0.000000014, "0.00000001"},
		{0.000000001, "0"},
		{1234.6, "1235"},
		{math.NaN(), "n/a"},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, formatCoins(c.in), "%v", c.in)
	}
}
