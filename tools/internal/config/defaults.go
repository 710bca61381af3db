package config

// Chain is what the pool knows about a coin's daemon and consensus rules.
type Chain struct {
	Name string
	// Daemon is the wallet binary as Debian ships it. /usr/bin/litecoind is a
	// wrapper that insists on ~/.litecoin and dies under the exec driver's
	// HOME=/nonexistent, so the real binary is used.
	Daemon string
	// CoinbaseMaturity is how many confirmations a coinbase output needs
	// before it can be spent, the floor for payout confirmations.
	CoinbaseMaturity int
	// UnitsPerCoin is the number of smallest units (litoshis) in one coin.
	UnitsPerCoin int64
	Networks     []string
}

// Chains are the coin daemons the pool can run.
var Chains = map[string]Chain{
	"litecoin": {
		Name:             "litecoin",
		Daemon:           "/usr/lib/litecoin/litecoind",
		CoinbaseMaturity: 100,
		UnitsPerCoin:     100_000_000,
		Networks:         []string{"mainnet", "testnet", "regtest"},
	},
}

func newPoolSettings() *PoolSettings {
	return &PoolSettings{
		Datacenter: "dc1",
		Region:     "global",
		Poolctl:    "/usr/local/bin/poolctl",
	}
}

func newCluster() *Cluster {
	return &Cluster{TolerateNodeFailures: 1}
}

func newCoin(name string) *Coin {
	return &Coin{
		Name:  name,
		Chain: "litecoin",
		Wallet: &Wallet{
			Instances:      2,
			CPUMHz:         1000,
			MemoryMB:       600,
			Volume:         name + "-chain",
			MaxLagBlocks:   2,
			MaxTipAge:      "30m",
			DBCacheMB:      100,
			MaxConnections: 16,
		},
		Stratum: &Stratum{
			Instances:  2,
			CPUMHz:     500,
			MemoryMB:   128,
			FeePercent: 1,
			Difficulty: &Difficulty{Start: 16, Min: 1, Max: 65536, TargetShareSeconds: 15},
		},
		Payout: &Payout{
			Cron:          "*/30 * * * *",
			Scheme:        "pplns",
			Minimum:       0.1,
			Window:        2,
			Reserve:       0.01,
			MaxOutputs:    500,
			Confirmations: 100,
			CPUMHz:        200,
			MemoryMB:      128,
		},
	}
}

func newDatabase() *Database {
	return &Database{
		Instances: 1,
		CPUMHz:    500,
		MemoryMB:  256,
		Volume:    "pool-data",
		Command:   "/usr/lib/postgresql/15/bin/postgres",
	}
}

func newHousekeeping() *Housekeeping {
	return &Housekeeping{
		BlocksCron:     "*/2 * * * *",
		StatsCron:      "*/5 * * * *",
		BackupCron:     "17 3 * * *",
		BackupVolume:   "pool-data",
		BackupKeepDays: 14,
		CPUMHz:         200,
		MemoryMB:       128,
	}
}

// newWeb: two small instances on a LAN port; the API caches its answers,
// so a Pi serves it with little.
func newWeb() *Web {
	return &Web{
		Port:      8080,
		Instances: 2,
		CPUMHz:    100,
		MemoryMB:  64,
	}
}
