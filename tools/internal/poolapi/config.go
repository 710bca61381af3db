package poolapi

import (
	"log/slog"
	"net/netip"
	"strconv"
	"time"

	"github.com/scryptpool/poolmicrocloud/tools/internal/config"
	"github.com/scryptpool/poolmicrocloud/tools/internal/payout"
)

// Config is what the API knows that the database does not: each coin's
// settings from the pool definition, and how hard the server works for
// one client.
type Config struct {
	// Coins are the pools MiningCore's API lists; a coin's ID is its
	// pool id in every route.
	Coins []Coin

	// CacheTTL is how long an answer is served again without asking the
	// database (15s). Negative keeps no answer: every request asks the
	// database (benchmarks measure what the cache saves with it).
	CacheTTL time.Duration
	// CacheEntries and CacheBytes bound the cached answers (4096, and
	// 16 MiB counting each answer's body twice, for its value beside it),
	// so that a client walking through pages cannot fill the memory of a
	// Pi: the answers due first go first.
	CacheEntries int
	CacheBytes   int
	// RatePerSecond and Burst size each client's token bucket (5 per
	// second, as MiningCore, and a burst of 20: a front page asks for
	// several routes at once).
	RatePerSecond float64
	Burst         int
	// LimitLoopback also limits clients on the loopback interface, which
	// MiningCore leaves alone.
	LimitLoopback bool
	// TrustedProxies are the reverse proxies whose X-Forwarded-For is
	// believed; from anyone else the header is ignored.
	TrustedProxies []netip.Prefix
	// MaxPageSize bounds pageSize (100). MiningCore has no bound.
	MaxPageSize int
	// QueryTimeout bounds the database work behind one answer (10s).
	QueryTimeout time.Duration

	// Now is the clock of time windows, the cache and the rate limiter;
	// tests set it.
	Now    func() time.Time
	Logger *slog.Logger
}

// Coin is one pool of the API: a coin the pool mines.
type Coin struct {
	// ID is the pool id of the routes: the coin's name in pool.hcl.
	ID        string
	Name      string // "Litecoin"
	Symbol    string // "LTC"
	Family    string // "bitcoin"
	Algorithm string // "Scrypt"
	Website   string
	// Network is mainnet, testnet or regtest: it decides which
	// addresses are valid.
	Network string
	// Address is the pool's own address (the coinbase's), if known.
	Address string

	FeePercent     float64
	Scheme         string  // pplns or proportional
	Window         float64 // PPLNS's N
	MinimumPayment float64 // coins
	// Confirmations a block needs before it is credited (never fewer
	// than payout.SpendableDepth).
	Confirmations int
	UnitsPerCoin  int64
	// BlockTime is the chain's target spacing, for the network hashrate.
	BlockTime time.Duration

	Ports    []Port
	Explorer Explorer
}

// Port is one stratum port miners connect to.
type Port struct {
	Port          int
	ListenAddress string
	Name          string
	Difficulty    float64
	MinDiff       float64
	MaxDiff       float64
	// TargetTime is the seconds between shares vardiff aims at.
	TargetTime float64
	// RetargetTime is how often vardiff looks (seconds).
	RetargetTime float64
}

// Explorer holds link templates as MiningCore writes them: "$height$"
// and "$hash$" in BlockLink, "{0}" in TxLink and AddressLink. An empty
// template means no link (regtest).
type Explorer struct {
	BlockLink   string
	TxLink      string
	AddressLink string
}

// chainFacts are what the API says about a chain the pool can run.
type chainFacts struct {
	name, symbol, family, algorithm, website string
	blockTime                                time.Duration
	mainnetExplorer                          Explorer
}

var chains = map[string]chainFacts{
	"litecoin": {
		name: "Litecoin", symbol: "LTC", family: "bitcoin", algorithm: "Scrypt",
		website: "https://litecoin.org/", blockTime: 150 * time.Second,
		mainnetExplorer: Explorer{
			BlockLink:   "https://chainz.cryptoid.info/ltc/block.dws?$height$.htm",
			TxLink:      "https://chainz.cryptoid.info/ltc/tx.dws?{0}.htm",
			AddressLink: "https://chainz.cryptoid.info/ltc/address.dws?{0}.htm",
		},
	},
}

// retargetSeconds is how often the stratum server's vardiff retargets
// (stratum.Server's RetargetAfter, not a setting of pool.hcl).
const retargetSeconds = 30

// ConfigFrom fills a Config's coins from a decoded pool definition, the
// explorer links of its web block included. The pool's address lives in
// Consul, not pool.hcl: set Coin.Address after.
func ConfigFrom(p *config.Pool) Config {
	var cfg Config
	listen := "0.0.0.0"
	if p.Cluster != nil && p.Cluster.FloatingAddress != "" {
		listen = p.Cluster.FloatingAddress
	}
	for _, c := range p.Coins {
		facts := chains[c.Chain]
		coin := Coin{
			ID: c.Name, Name: facts.name, Symbol: facts.symbol, Family: facts.family,
			Algorithm: facts.algorithm, Website: facts.website, Network: c.Network,
			UnitsPerCoin: config.Chains[c.Chain].UnitsPerCoin, BlockTime: facts.blockTime,
		}
		if c.Network == "mainnet" {
			coin.Explorer = facts.mainnetExplorer
		}
		if p.Web != nil {
			for _, e := range p.Web.Explorers {
				if e.Coin != c.Name {
					continue
				}
				// A link written in the web block replaces the default.
				for _, l := range []struct {
					dst *string
					src string
				}{
					{&coin.Explorer.BlockLink, e.BlockLink}, {&coin.Explorer.TxLink, e.TxLink}, {&coin.Explorer.AddressLink, e.AddressLink},
				} {
					if l.src != "" {
						*l.dst = l.src
					}
				}
			}
		}
		if s := c.Stratum; s != nil {
			coin.FeePercent = s.FeePercent
			port := Port{Port: s.Port, ListenAddress: listen, Name: c.Name, RetargetTime: retargetSeconds}
			if d := s.Difficulty; d != nil {
				port.Difficulty, port.MinDiff, port.MaxDiff = d.Start, d.Min, d.Max
				port.TargetTime = float64(d.TargetShareSeconds)
			}
			coin.Ports = append(coin.Ports, port)
		}
		if po := c.Payout; po != nil {
			coin.Scheme, coin.Window = po.Scheme, po.Window
			coin.MinimumPayment, coin.Confirmations = po.Minimum, po.Confirmations
		}
		cfg.Coins = append(cfg.Coins, coin)
	}
	if p.Web != nil {
		for _, proxy := range p.Web.TrustedProxies {
			// Validated: an entry that does not parse never got here.
			if prefix, err := config.ParseProxy(proxy); err == nil {
				cfg.TrustedProxies = append(cfg.TrustedProxies, prefix)
			}
		}
	}
	return cfg
}

func (c Config) withDefaults() Config {
	if c.CacheTTL == 0 {
		c.CacheTTL = 15 * time.Second
	}
	if c.CacheEntries <= 0 {
		c.CacheEntries = 4096
	}
	if c.CacheBytes <= 0 {
		c.CacheBytes = 16 << 20
	}
	if c.RatePerSecond <= 0 {
		c.RatePerSecond = 5
	}
	if c.Burst <= 0 {
		c.Burst = 20
	}
	if c.MaxPageSize <= 0 {
		c.MaxPageSize = 100
	}
	if c.QueryTimeout <= 0 {
		c.QueryTimeout = 10 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	coins := make([]Coin, len(c.Coins))
	for i, coin := range c.Coins {
		if coin.UnitsPerCoin <= 0 {
			coin.UnitsPerCoin = 100_000_000
		}
		if coin.BlockTime <= 0 {
			coin.BlockTime = 150 * time.Second
		}
		// A block is credited at the pool's confirmations and not before
		// its wallet can spend the coinbase: the depth the API shows.
		coin.Confirmations = max(coin.Confirmations, payout.SpendableDepth)
		coins[i] = coin
	}
	c.Coins = coins
	return c
}

// CacheControl is the Cache-Control header of an answer served from
// the cache: browsers and proxies may keep it as long as the server
// does, and not at all when the server keeps nothing.
func (c Config) CacheControl() string {
	if c.CacheTTL < 0 {
		return "no-store"
	}
	return "public, max-age=" + strconv.Itoa(int(c.CacheTTL.Seconds()))
}
