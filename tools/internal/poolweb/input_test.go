package poolweb

import (
	"context"
	"errors"
	"html"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// noDatabase fails the test if a page asks it anything: bad input must
// be refused before the database.
type noDatabase struct{ t *testing.T }

func (n noDatabase) Query(context.Context, string, ...any) (pgx.Rows, error) {
	n.t.Error("the database was asked")
	return nil, errors.New("asked")
}

func (n noDatabase) QueryRow(context.Context, string, ...any) pgx.Row {
	n.t.Error("the database was asked")
	return failedRow{errors.New("asked")}
}

// downDatabase fails every statement as a database that went away,
// with the SQL in its error as pgx puts it there.
type downDatabase struct{}

var errDown = errors.New(`connect: SELECT owed FROM balances: connection refused`)

func (downDatabase) Query(context.Context, string, ...any) (pgx.Rows, error) { return nil, errDown }
func (downDatabase) QueryRow(context.Context, string, ...any) pgx.Row        { return failedRow{errDown} }

type failedRow struct{ err error }

func (r failedRow) Scan(...any) error { return r.err }

// Bad input gets a page saying why, with the right status; what needs
// no database never reaches it.
func TestBadInputPages(t *testing.T) {
	db := startLedger(t)
	fill(t, db)
	withDB := New(testConfig(), db)
	withoutDB := New(testConfig(), noDatabase{t})

	cases := []struct {
		name, path string
		needsDB    bool // the answer depends on what the database holds
		status     int
		says       string // part of the page's reason
	}{
		{"invalid address", "/miners/nonsense", false, 400, `address: "nonsense" is not a mainnet address`},
		{"address bad base58 checksum", "/miners/LVuDpNCSSj6pQ7t9Pv6d6sUkLKoqDEVUnK", false, 400, "bad base58 checksum"},
		{"address bad bech32 checksum", "/miners/ltc1qw508d6qejxtdg4y5r3zarvary0c5xw7kgmn4n8", false, 400, "bad bech32 checksum"},
		{"address of another network", "/miners/rltc1qw508d6qejxtdg4y5r3zarvary0c5xw7kgmn4n9", false, 400, "not a mainnet address"},
		{"address too long", "/miners/" + strings.Repeat("1", 91), false, 400, "longer than any address"},
		{"markup in the address", "/miners/%3Cscript%3Ealert(1)%3C%2Fscript%3E", false, 400, `"<script>alert(1)</script>" is not a mainnet address`},
		{"sql in the address", "/miners/x'%3B%20DROP%20TABLE%20shares%3B--", false, 400, "not a mainnet address"},
		{"unknown address", "/miners/" + stranger, true, 404, "is a valid address, but this pool has never had a share from it"},
		{"search without an address", "/miners?address=", false, 400, "enter the address you mine to"},
		{"search without a parameter", "/miners", false, 400, "enter the address you mine to"},
		{"negative page", "/blocks?page=-1", false, 400, "page: -1 is out of range: from 0 to 1000000"},
		{"page not a number", "/payments?page=abc", false, 400, `page: the value "abc" is not a whole number`},
		{"page too far for the API", "/blocks?page=1000001", false, 400, "out of range"},
		{"page past the last", "/blocks?page=3", true, 400, "page: 3 is past the last page (pages count from 0; the last is page=0)"},
		{"payments page past the last", "/payments?page=1", true, 400, "the last is page=0"},
		{"miner's payments page past the last", "/miners/" + minerB + "?page=1", true, 400, "page: 1 is past the last page"},
		{"pageSize too big", "/blocks?pageSize=101", false, 400, "pageSize: 101 is out of range: from 1 to 100"},
		{"pageSize zero", "/payments?pagesize=0", false, 400, "out of range"},
		{"page twice", "/blocks?page=1&page=2", false, 400, "given 2 times"},
		{"bad query encoding", "/blocks?page=%zz", false, 400, "not a valid query string"},
		{"unknown coin", "/blocks?coin=doge", false, 404, `this pool mines no coin named "doge"`},
		{"unknown coin of a miner", "/miners/" + minerA + "?coin=doge", false, 404, "no coin named"},
		{"unknown path", "/settings", false, 404, "there is no page at this address"},
		{"path under a miner", "/miners/" + minerA + "/payments", false, 404, "there is no page at this address"},
		{"unknown static file", "/static/other.css", false, 404, "there is no page"},
		{"page paths are case-sensitive", "/Blocks", false, 404, "there is no page"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := withoutDB
			if c.needsDB {
				h = withDB
			}
			rec := get(t, h, c.path)
			require.Equal(t, c.status, rec.Code, rec.Body.String())
			assert.Equal(t, "text/html; charset=utf-8", rec.Header().Get("Content-Type"))
			assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
			assert.Equal(t, contentSecurityPolicy, rec.Header().Get("Content-Security-Policy"))
			body := rec.Body.String()
			assert.Contains(t, html.UnescapeString(body), c.says)
			assert.NotContains(t, body, "<script>", "the visitor's text is escaped")
			selfContained(t, body)
		})
	}

	t.Run("unknown address page", func(t *testing.T) {
		golden(t, "miner-unknown.html", get(t, withDB, "/miners/"+stranger).Body.String())
	})
	t.Run("invalid address page", func(t *testing.T) {
		golden(t, "miner-invalid.html", get(t, withoutDB, "/miners/nonsense").Body.String())
	})
}

// The search form lands on the miner's page; a whole username works too.
func TestSearchRedirects(t *testing.T) {
	h := New(testConfig(), noDatabase{t})
	for _, path := range []string{
		"/miners?address=" + minerB,
		"/miners?address=" + minerB + ".rig1",
		"/?address=%20" + minerB + "%20",
	} {
		rec := get(t, h, path)
		assert.Equal(t, http.StatusSeeOther, rec.Code, path)
		assert.Equal(t, "/miners/"+minerB, rec.Header().Get("Location"), path)
	}
	rec := get(t, h, "/?address=a%2Fb%3Fc")
	assert.Equal(t, "/miners/a%2Fb%3Fc", rec.Header().Get("Location"), "the address stays one path segment")
}

// A database that does not answer is a 503 page that shows none of its
// error; pages that need no database still work.
func TestDatabaseDown(t *testing.T) {
	h := New(testConfig(), downDatabase{})
	for _, path := range []string{"/", "/blocks", "/payments", "/miners/" + minerA} {
		rec := get(t, h, path)
		require.Equal(t, http.StatusServiceUnavailable, rec.Code, path)
		assert.Equal(t, "30", rec.Header().Get("Retry-After"))
		body := rec.Body.String()
		assert.Contains(t, body, "the pool&#39;s database did not answer")
		for _, leak := range []string{"SELECT", "balances", "connection refused"} {
			assert.NotContains(t, body, leak)
		}
	}
	assert.Equal(t, http.StatusOK, get(t, h, "/start").Code)
	assert.Equal(t, http.StatusOK, get(t, h, stylePath).Code)
}

// Only GET and HEAD; HEAD has the headers and no body.
func TestMethods(t *testing.T) {
	h := New(testConfig(), noDatabase{t})
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		req := httptest.NewRequest(m, "/start", nil)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		assert.Equal(t, http.StatusMethodNotAllowed, rec.Code, m)
		assert.Equal(t, "GET, HEAD", rec.Header().Get("Allow"))
	}
	req := httptest.NewRequest(http.MethodHead, "/start", nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Empty(t, rec.Body.String())
	assert.Equal(t, "text/html; charset=utf-8", rec.Header().Get("Content-Type"))

	css := get(t, h, stylePath)
	assert.Equal(t, "text/css; charset=utf-8", css.Header().Get("Content-Type"))
	assert.Equal(t, string(styleSheet), css.Body.String())

	// Browsers ask for an icon unasked: no icon, and no error either.
	icon := get(t, h, faviconPath)
	assert.Equal(t, http.StatusNoContent, icon.Code)
	assert.Empty(t, icon.Body.String())
}

// Pages and the API take from one bucket per client: a client asking
// too fast gets 429 from both, before the database; the style sheet is
// not counted.
func TestRateLimitIsShared(t *testing.T) {
	clock := now
	cfg := testConfig()
	cfg.Now = func() time.Time { return clock }
	cfg.LimitLoopback = true
	cfg.RatePerSecond, cfg.Burst = 1, 2
	h := New(cfg, noDatabase{t})

	assert.Equal(t, http.StatusOK, get(t, h, "/start").Code)
	assert.Equal(t, http.StatusOK, get(t, h, "/api/health-check").Code, "the health check is never limited")
	assert.Equal(t, http.StatusBadRequest, get(t, h, "/miners/nonsense").Code)

	page := get(t, h, "/start")
	require.Equal(t, http.StatusTooManyRequests, page.Code)
	assert.Equal(t, "1", page.Header().Get("Retry-After"))
	assert.Equal(t, "text/html; charset=utf-8", page.Header().Get("Content-Type"))
	assert.Contains(t, page.Body.String(), "faster than 1 a second")

	assert.Equal(t, http.StatusTooManyRequests, get(t, h, "/api/pools").Code, "the API's bucket is the pages'")
	assert.Equal(t, http.StatusOK, get(t, h, stylePath).Code)
	assert.Equal(t, http.StatusNoContent, get(t, h, faviconPath).Code, "nor is the icon browsers ask for")

	clock = clock.Add(time.Second)
	assert.Equal(t, http.StatusOK, get(t, h, "/start").Code, "a token a second")
}

// The start page names the host a miner reached the site by when the
// stratum port listens on every address, and only a plain host name.
func TestStartPageHost(t *testing.T) {
	cfg := testConfig()
	cfg.Coins[0].Ports[0].ListenAddress = "0.0.0.0"
	h := New(cfg, noDatabase{t})
	cases := []struct{ host, want string }{
		{"pool.example:8080", "stratum&#43;tcp://pool.example:3333"},
		{"192.168.1.50", "stratum&#43;tcp://192.168.1.50:3333"},
		{"[fd00::1]:80", "stratum&#43;tcp://[fd00::1]:3333"},
		{"evil\"><b>x", "stratum&#43;tcp://POOL_HOST:3333"},
		{"", "stratum&#43;tcp://POOL_HOST:3333"},
	}
	for _, c := range cases {
		req := httptest.NewRequest(http.MethodGet, "/start", nil)
		req.Host = c.host
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		require.Equal(t, http.StatusOK, rec.Code)
		assert.Contains(t, rec.Body.String(), "minerd -a scrypt -o "+c.want+" -u ADDRESS.WORKER -p x", c.host)
		assert.Contains(t, rec.Body.String(), "cgminer --scrypt -o "+c.want+" -u ADDRESS.WORKER -p x", c.host)
	}
}
