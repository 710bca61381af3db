package poolapi

import (
	"time"

	"github.com/scryptpool/poolmicrocloud/tools/internal/poolapi/ledgerfill"
)

// The fixture is ledgerfill's, shared with poolweb: the pages show the
// rows the API's goldens were made from.
var (
	now         = ledgerfill.Now
	startLedger = ledgerfill.StartLedger
	fill        = ledgerfill.Fill
)

const (
	minerA        = ledgerfill.MinerA
	minerB        = ledgerfill.MinerB
	poolAddress   = ledgerfill.PoolAddress
	stranger      = ledgerfill.Stranger
	storedNetDiff = ledgerfill.StoredNetDiff
)

// countingDB counts the statements sent to the real database.
type countingDB = ledgerfill.CountingDB

func testCoin() Coin {
	c := Coin{
		ID: "ltc", Name: "Litecoin", Symbol: "LTC", Family: "bitcoin", Algorithm: "Scrypt",
		Website: "https://litecoin.org/", Network: "mainnet", Address: poolAddress,
		FeePercent: 1, Scheme: "pplns", Window: 2, MinimumPayment: 0.1, Confirmations: 100,
		UnitsPerCoin: 100_000_000, BlockTime: 150 * time.Second,
		Ports: []Port{{Port: 3333, ListenAddress: "192.168.1.50", Name: "ltc", Difficulty: 16,
			MinDiff: 1, MaxDiff: 65536, TargetTime: 15, RetargetTime: 30}},
		Explorer: chains["litecoin"].mainnetExplorer,
	}
	return c
}

func testConfig() Config {
	return Config{Coins: []Coin{testCoin()}, Now: func() time.Time { return now }}
}
