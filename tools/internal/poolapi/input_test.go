package poolapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// noDatabase fails the test if the API asks it anything: bad input and
// refused clients must never reach the database.
type noDatabase struct{ t *testing.T }

func (n noDatabase) Query(context.Context, string, ...any) (pgx.Rows, error) {
	n.t.Fatal("the database was asked")
	return nil, nil
}

func (n noDatabase) QueryRow(context.Context, string, ...any) pgx.Row {
	n.t.Fatal("the database was asked")
	return nil
}

func TestBadInputIsRefusedBeforeTheDatabase(t *testing.T) {
	miner := "/api/pools/ltc/miners/" + minerA
	cases := []struct {
		name, path string
		status     int
		param      string // the parameter a 400 names
		says       string // and part of why
	}{
		{"negative page", "/api/pools/ltc/blocks?page=-1", 400, "page", "out of range"},
		{"page not a number", "/api/pools/ltc/payments?page=abc", 400, "page", `"abc" is not a whole number`},
		{"huge page", "/api/pools/ltc/payments?page=99999999999999999999", 400, "page", "not a whole number"},
		{"page too far", "/api/pools/ltc/payments?page=1000001", 400, "page", "out of range"},
		{"pageSize zero", "/api/pools/ltc/miners?pageSize=0", 400, "pageSize", "out of range: from 1 to 100"},
		{"pageSize too big", "/api/v2/pools/ltc/blocks?pagesize=101", 400, "pageSize", "out of range"},
		{"pageSize fraction", "/api/blocks?pageSize=1.5", 400, "pageSize", "not a whole number"},
		{"page twice", "/api/pools/ltc/blocks?page=1&PAGE=2", 400, "page", "given 2 times"},
		{"unknown state", "/api/pools/ltc/blocks?state=lost", 400, "state", "not one of Pending, Orphaned, Confirmed"},
		{"state number out of range", "/api/blocks?state=4", 400, "state", "not one of"},
		{"too many states", "/api/blocks?state=1&state=2&state=3&state=1", 400, "state", "given 4 times"},
		{"unknown range", "/api/pools/ltc/performance?r=Week", 400, "r", `"Week" is not one of Day, Month, Hour`},
		{"hour range of the pool", "/api/pools/ltc/performance?r=Hour", 400, "r", "Day or Month"},
		{"unknown interval", "/api/pools/ltc/performance?i=Minute", 400, "i", "not one of Hour, Day"},
		{"unknown perfMode", miner + "?perfMode=year", 400, "perfMode", "not one of Day, Month, Hour"},
		{"unknown mode", miner + "/performance?mode=0", 400, "mode", "not one of"},
		{"topMinersRange zero", "/api/pools?topMinersRange=0", 400, "topMinersRange", "out of range: from 1 to 168"},
		{"topMinersRange negative", "/api/pools/ltc?topMinersRange=-24", 400, "topMinersRange", "out of range"},
		{"bad query encoding", "/api/pools/ltc/blocks?page=%zz", 400, "query", "not a valid query string"},
		{"address bad base58 checksum", "/api/pools/ltc/miners/LVuDpNCSSj6pQ7t9Pv6d6sUkLKoqDEVUnK", 400, "address", "bad base58 checksum"},
		{"address bad base58 character", "/api/pools/ltc/miners/LVuDpNCSSj6pQ7t9Pv6d6sUkLKoqDEVUn0", 400, "address", "invalid base58 character"},
		{"address bad bech32 checksum", "/api/pools/ltc/miners/ltc1qw508d6qejxtdg4y5r3zarvary0c5xw7kgmn4n8/payments", 400, "address", "bad bech32 checksum"},
		{"address of another network", "/api/pools/ltc/miners/rltc1qw508d6qejxtdg4y5r3zarvary0c5xw7kgmn4n9", 400, "address", "not a mainnet address"},
		{"bitcoin address", "/api/pools/ltc/miners/bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4/performance", 400, "address", "not a mainnet address"},
		{"address too long", "/api/v2/pools/ltc/miners/" + strings.Repeat("1", 91) + "/payments", 400, "address", "longer than any address"},
		{"sql in the address", "/api/pools/ltc/miners/x'%3B%20DROP%20TABLE%20shares%3B--", 400, "address", "not a mainnet address"},
		{"unknown pool", "/api/pools/btc", 404, "", "Unknown pool btc"},
		{"pool id is case-sensitive", "/api/pools/LTC/blocks", 404, "", "Unknown pool LTC"},
		{"unknown pool before its address", "/api/pools/doge/miners/" + minerA, 404, "", "Unknown pool doge"},
		{"unknown pool quoted", "/api/pools/%3Cscript%3E", 404, "", `Unknown pool "<script>"`},
		{"unknown route", "/api/pools/ltc/settings", 404, "", "no such route"},
	}
	h := New(Config{Coins: []Coin{testCoin()}}, noDatabase{t})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := get(t, h, c.path)
			require.Equal(t, c.status, rec.Code, rec.Body.String())
			assert.Equal(t, "*", rec.Header().Get("Access-Control-Allow-Origin"))
			if c.status == http.StatusNotFound {
				assert.Equal(t, "text/plain; charset=utf-8", rec.Header().Get("Content-Type"))
				assert.Equal(t, c.says, rec.Body.String())
				return
			}
			assert.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"))
			var p problem
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &p))
			assert.Equal(t, 400, p.Status)
			require.Contains(t, p.Errors, c.param, "the problem names the parameter")
			require.Len(t, p.Errors[c.param], 1)
			assert.Contains(t, p.Errors[c.param][0], c.says)
			assert.Contains(t, p.Detail, "parameter "+c.param+":")
		})
	}
}

func TestMethodsAndCORS(t *testing.T) {
	h := New(Config{Coins: []Coin{testCoin()}}, noDatabase{t})
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		req := httptest.NewRequest(m, "/api/pools", nil)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		assert.Equal(t, http.StatusMethodNotAllowed, rec.Code, m)
	}
	req := httptest.NewRequest(http.MethodOptions, "/api/pools/ltc/blocks", nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	assert.Equal(t, http.StatusNoContent, rec.Code)
	assert.Equal(t, "*", rec.Header().Get("Access-Control-Allow-Origin"))
	assert.Contains(t, rec.Header().Get("Access-Control-Allow-Methods"), "GET")

	rec = get(t, h, "/API/Health-Check/")
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "👍", rec.Body.String())
}

// A client that empties its bucket is answered 429 with Retry-After and
// never reaches a handler; the bucket refills on the limiter's clock.
func TestRateLimitPerClient(t *testing.T) {
	clock := now
	cfg := Config{Coins: []Coin{testCoin()}, RatePerSecond: 2, Burst: 5, Now: func() time.Time { return clock }}
	h := New(cfg, noDatabase{t})
	from := func(addr string) int {
		req := httptest.NewRequest(http.MethodGet, "/api/pools/nope", nil)
		req.RemoteAddr = addr
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code == http.StatusTooManyRequests {
			wait, err := strconv.Atoi(rec.Header().Get("Retry-After"))
			require.NoError(t, err)
			assert.Positive(t, wait)
		}
		return rec.Code
	}
	const client = "203.0.113.7:50000"
	for i := range 5 {
		assert.Equal(t, http.StatusNotFound, from(client), "request %d of the burst", i)
	}
	assert.Equal(t, http.StatusTooManyRequests, from(client))
	assert.Equal(t, http.StatusTooManyRequests, from("203.0.113.7:50001"), "another port of the same client")
	assert.Equal(t, http.StatusNotFound, from("203.0.113.8:50000"), "another client has its own bucket")
	assert.Equal(t, http.StatusNotFound, from("[::1]:50000"), "loopback is not limited")
	// An IPv6 subscriber's /64 is one client: a new address per request
	// draws from the same bucket; the next /64 is another client.
	for i := range 5 {
		assert.Equal(t, http.StatusNotFound, from(fmt.Sprintf("[2001:db8:1:2::%x]:443", i+1)), "request %d of the /64's burst", i)
	}
	assert.Equal(t, http.StatusTooManyRequests, from("[2001:db8:1:2:ffff::9]:443"), "another address of the same /64")
	assert.Equal(t, http.StatusNotFound, from("[2001:db8:1:3::1]:443"), "the next /64 has its own bucket")
	for range 10 {
		assert.Equal(t, http.StatusNotFound, from("127.0.0.1:1"))
	}

	clock = clock.Add(499 * time.Millisecond)
	assert.Equal(t, http.StatusTooManyRequests, from(client), "not yet a whole token")
	clock = clock.Add(time.Millisecond)
	assert.Equal(t, http.StatusNotFound, from(client), "one token after half a second at 2/s")
	assert.Equal(t, http.StatusTooManyRequests, from(client))

	// X-Forwarded-For is the client's invention unless a trusted proxy says it.
	forwarded := func(remote, xff string) int {
		req := httptest.NewRequest(http.MethodGet, "/api/pools/nope", nil)
		req.RemoteAddr = remote
		req.Header.Set("X-Forwarded-For", xff)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	assert.Equal(t, http.StatusTooManyRequests, forwarded(client, "198.51.100.1"), "an untrusted X-Forwarded-For is ignored")
}

func TestTrustedProxy(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = "10.0.0.2:3000"
	r.Header.Set("X-Forwarded-For", "1.2.3.4, 198.51.100.9")
	addr, ok := clientAddr(r, nil)
	require.True(t, ok)
	assert.Equal(t, "10.0.0.2", addr.String())
	cfg := Config{}
	cfg.TrustedProxies = append(cfg.TrustedProxies, mustPrefix(t, "10.0.0.0/8"))
	addr, ok = clientAddr(r, cfg.TrustedProxies)
	require.True(t, ok)
	assert.Equal(t, "198.51.100.9", addr.String(), "the hop the proxy added, not the client's own claims")
}

func mustPrefix(t *testing.T, s string) netip.Prefix {
	t.Helper()
	p, err := netip.ParsePrefix(s)
	require.NoError(t, err)
	return p
}
