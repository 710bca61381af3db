package poolweb

import (
	"math"
	"strconv"

	"github.com/scryptpool/poolmicrocloud/tools/internal/poolapi"
)

// hashesPerNetworkDifficulty is the scrypt hashes a block of network
// difficulty 1 (getdifficulty) takes on average: 2^32.
const hashesPerNetworkDifficulty = 1 << 32

// estimate is what a miner would earn in a day at a steady hashrate,
// in the long run: the blocks its hashrate finds at the network's
// difficulty, each worth the pool's recent average reward, less the
// fee. Luck, difficulty changes and the PPLNS window make any one day
// differ; the page says so and shows every input.
type estimate struct {
	Hashrate   float64 // H/s, the miner's last 10 minutes
	Difficulty float64 // the network's, as getdifficulty
	Reward     float64 // coins, the average of Blocks recent blocks not orphaned
	Blocks     int
	FeePercent float64
	PerDay     float64 // coins
	// Missing says why there is no estimate; "" when there is one.
	Missing string
}

// estimateEarnings works out the estimate from the pool's figures and
// its recent blocks.
func estimateEarnings(hashrate, difficulty, feePercent float64, recent []poolapi.Block) estimate {
	e := estimate{Hashrate: hashrate, Difficulty: difficulty, FeePercent: feePercent}
	sum := 0.0
	for _, b := range recent {
		if b.Status == "orphaned" {
			continue
		}
		r, err := strconv.ParseFloat(b.Reward.String(), 64)
		if err != nil || math.IsNaN(r) || math.IsInf(r, 0) || r <= 0 {
			continue
		}
		sum += r
		e.Blocks++
	}
	switch {
	case !(hashrate > 0) || math.IsInf(hashrate, 0):
		e.Missing = "no shares from this address in the last 10 minutes"
	case !(difficulty > 0) || math.IsInf(difficulty, 0):
		e.Missing = "the network's difficulty is not known yet"
	case e.Blocks == 0:
		e.Missing = "the pool has found no block yet to know a block's reward"
	case feePercent < 0 || feePercent >= 100:
		e.Missing = "the pool's fee is not a percentage below 100"
	}
	if e.Missing != "" {
		return e
	}
	e.Reward = sum / float64(e.Blocks)
	blocksPerDay := hashrate * 86400 / (difficulty * hashesPerNetworkDifficulty)
	e.PerDay = blocksPerDay * e.Reward * (1 - feePercent/100)
	return e
}

// formatCoins writes an amount of coins with four significant figures
// and at most eight decimals (a satoshi): 0.01234, 2.5, 1235.
func formatCoins(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "n/a"
	}
	if math.Abs(v) < 1e-8 {
		return "0"
	}
	return significant(math.Round(v*1e8)/1e8, 4)
}
