package poolweb

import (
	"time"

	"github.com/scryptpool/poolmicrocloud/tools/internal/poolapi"
	"github.com/scryptpool/poolmicrocloud/tools/internal/poolapi/ledgerfill"
)

// The fixture is ledgerfill's, shared with poolapi: the pages show the
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

func testCoin() poolapi.Coin {
	c := poolapi.Coin{
		ID: "ltc", Name: "Litecoin", Symbol: "LTC", Family: "bitcoin", Algorithm: "Scrypt",
		Website: "https://litecoin.org/", Network: "mainnet", Address: poolAddress,
		FeePercent: 1, Scheme: "pplns", Window: 2, MinimumPayment: 0.1, Confirmations: 100,
		UnitsPerCoin: 100_000_000, BlockTime: 150 * time.Second,
		Ports: []poolapi.Port{{Port: 3333, ListenAddress: "192.168.1.50", Name: "ltc", Difficulty: 16,
			MinDiff: 1, MaxDiff: 65536, TargetTime: 15, RetargetTime: 30}},
		Explorer: poolapi.Explorer{
			BlockLink:   "https://chainz.cryptoid.info/ltc/block.dws?$height$.htm",
			TxLink:      "https://chainz.cryptoid.info/ltc/tx.dws?{0}.htm",
			AddressLink: "https://chainz.cryptoid.info/ltc/address.dws?{0}.htm",
		},
	}
	return c
}

func testConfig() poolapi.Config {
	return poolapi.Config{Coins: []poolapi.Coin{testCoin()}, Now: func() time.Time { return now }}
}
