package poolapi

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/config"
	"github.com/scryptpool/poolmicrocloud/tools/internal/testenv"
)

// The production example's coin becomes the pool MiningCore describes:
// its stratum port at the floating address, its fee, scheme and window.
func TestConfigFromTheProductionExample(t *testing.T) {
	pool, _, diags := config.Load(testenv.Example(t, "home-12pi"))
	require.False(t, diags.HasErrors(), diags.Error())
	cfg := ConfigFrom(pool)
	require.Len(t, cfg.Coins, len(pool.Coins))
	c, src := cfg.Coins[0], pool.Coins[0]
	assert.Equal(t, src.Name, c.ID)
	assert.Equal(t, "LTC", c.Symbol)
	assert.Equal(t, "Scrypt", c.Algorithm)
	assert.Equal(t, "mainnet", c.Network)
	assert.Equal(t, src.Stratum.FeePercent, c.FeePercent)
	assert.Equal(t, src.Payout.Scheme, c.Scheme)
	assert.Equal(t, src.Payout.Window, c.Window)
	assert.Equal(t, src.Payout.Confirmations, c.Confirmations)
	assert.Equal(t, int64(100_000_000), c.UnitsPerCoin)
	assert.Equal(t, 150*time.Second, c.BlockTime)
	require.Len(t, c.Ports, 1)
	assert.Equal(t, src.Stratum.Port, c.Ports[0].Port)
	assert.Equal(t, pool.Cluster.FloatingAddress, c.Ports[0].ListenAddress)
	assert.Equal(t, src.Stratum.Difficulty.Start, c.Ports[0].Difficulty)
	assert.NotEmpty(t, c.Explorer.TxLink, "mainnet gets explorer links")
}

// Explorer links written in the web block replace a coin's defaults, link
// by link; other coins keep theirs.
func TestConfigFromTakesTheWebBlocksExplorers(t *testing.T) {
	pool, _, diags := config.Load(testenv.Example(t, "home-12pi"))
	require.False(t, diags.HasErrors(), diags.Error())
	defaults := ConfigFrom(pool).Coins[0].Explorer
	pool.Web.Explorers = []*config.Explorer{
		{Coin: "other", TxLink: "https://elsewhere.example/tx/{0}"},
		{Coin: pool.Coins[0].Name, TxLink: "https://explorer.example/tx/{0}"},
	}
	got := ConfigFrom(pool).Coins[0].Explorer
	assert.Equal(t, "https://explorer.example/tx/{0}", got.TxLink)
	assert.Equal(t, defaults.BlockLink, got.BlockLink)
	assert.Equal(t, defaults.AddressLink, got.AddressLink)
}

// trusted_proxies in the web block are the proxies whose X-Forwarded-For
// names the client: an address stands for itself alone.
func TestConfigFromTakesTheTrustedProxies(t *testing.T) {
	pool, _, diags := config.Load(testenv.Example(t, "home-12pi"))
	require.False(t, diags.HasErrors(), diags.Error())
	assert.Empty(t, ConfigFrom(pool).TrustedProxies, "none unless written")
	pool.Web.TrustedProxies = []string{"192.168.1.1", "fd00::/8"}
	got := ConfigFrom(pool).TrustedProxies
	require.Len(t, got, 2)
	assert.Equal(t, "192.168.1.1/32", got[0].String())
	assert.Equal(t, "fd00::/8", got[1].String())
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("X-Forwarded-For", "203.0.113.7")
	for remote, want := range map[string]string{"192.168.1.1:5000": "203.0.113.7", "192.168.1.2:5000": "192.168.1.2"} {
		r.RemoteAddr = remote
		addr, ok := clientAddr(r, got)
		require.True(t, ok)
		assert.Equal(t, want, addr.String(), "a request from %s", remote)
	}
}

// The cache's lifetime reaches browsers as Cache-Control; a server that
// keeps nothing asks them to keep nothing either.
func TestCacheControl(t *testing.T) {
	for _, tc := range []struct {
		ttl  time.Duration
		want string
	}{{0, "public, max-age=15"}, {30 * time.Second, "public, max-age=30"}, {-1, "no-store"}} {
		assert.Equal(t, tc.want, Config{CacheTTL: tc.ttl}.withDefaults().CacheControl(), "ttl %v", tc.ttl)
	}
}
