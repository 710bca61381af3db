package poolweb

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/payout"
)

// get asks h for path from loopback (no rate limit) and returns the answer.
func get(t *testing.T, h http.Handler, path string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.RemoteAddr = "127.0.0.1:40000"
	req.Host = "pool.example"
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// Every page against a real PostgreSQL holding a pool's life, compared
// with golden pages, and the figures on them with what SQL says.
func TestPagesAgainstTheLedger(t *testing.T) {
	db := startLedger(t)
	fill(t, db)
	h := New(testConfig(), db)

	pages := []struct{ golden, path string }{
		{"front", "/"},
		{"miner-a", "/miners/" + minerA},
		{"miner-b", "/miners/" + minerB},
		{"blocks", "/blocks"},
		{"blocks-page1", "/blocks?page=1&pageSize=2"},
		{"payments", "/payments"},
		{"start", "/start"},
	}
	for _, pg := range pages {
		t.Run(pg.golden, func(t *testing.T) {
			rec := get(t, h, pg.path)
			require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
			assert.Equal(t, "text/html; charset=utf-8", rec.Header().Get("Content-Type"))
			assert.Equal(t, contentSecurityPolicy, rec.Header().Get("Content-Security-Policy"))
			body := rec.Body.String()
			golden(t, pg.golden+".html", body)
			selfContained(t, body)
		})
	}

	t.Run("figures equal the database's", func(t *testing.T) {
		checkFigures(t, h, db)
	})
}

// selfContained checks that a page asks for nothing but the site's
// style sheet: no script, no remote font, image or frame.
func selfContained(t *testing.T, body string) {
	t.Helper()
	for _, bad := range []string{"<script", "<iframe", "<img", "@import", "style=", " src="} {
		assert.NotContains(t, body, bad)
	}
	links := regexp.MustCompile(`<link [^>]*href="([^"]*)"`).FindAllStringSubmatch(body, -1)
	require.Len(t, links, 1)
	assert.Equal(t, stylePath, links[0][1])
}

func checkFigures(t *testing.T, h http.Handler, db *pgxpool.Pool) {
	ctx := context.Background()
	scalar := func(sql string, args ...any) int64 {
		t.Helper()
		var n int64
		require.NoError(t, db.QueryRow(ctx, sql, args...).Scan(&n), sql)
		return n
	}
	coins := func(units int64) string { return payout.Coins(units, 100_000_000).String() }
	// figure is the value a page shows under a label of its figures.
	figure := func(body, label string) string {
		t.Helper()
		m := regexp.MustCompile(`<dt>` + regexp.QuoteMeta(label) + `</dt><dd>([^<]*)</dd>`).FindStringSubmatch(body)
		require.NotNil(t, m, "no figure %q", label)
		return m[1]
	}
	sentItems := `SELECT coalesce(sum(i.amount), 0)::bigint FROM payout_items i JOIN payouts p ON p.id = i.payout_id
		WHERE p.coin = 'ltc' AND p.status = 'sent' AND i.address = $1`

	for _, address := range []string{minerA, minerB} {
		body := get(t, h, "/miners/"+address).Body.String()
		assert.Equal(t, coins(scalar(`SELECT owed FROM balances WHERE coin = 'ltc' AND address = $1`, address))+" LTC",
			figure(body, "Pending balance"), "%s pending = balances.owed", address)
		assert.Equal(t, coins(scalar(sentItems, address))+" LTC", figure(body, "Total paid"), "%s paid = sent payout items", address)

		rows, err := db.Query(ctx, `SELECT DISTINCT worker FROM shares WHERE address = $1`, address)
		require.NoError(t, err)
		var workers []string
		for rows.Next() {
			var w string
			require.NoError(t, rows.Scan(&w))
			workers = append(workers, w)
		}
		require.NoError(t, rows.Err())
		require.NotEmpty(t, workers)
		for _, w := range workers {
			cell := "<td>" + w + "</td>"
			if w == "" {
				cell = "<td><em>(no name)</em></td>"
			}
			assert.Contains(t, body, cell, "%s's worker %q is listed", address, w)
		}

		txids, err := db.Query(ctx, `SELECT p.txid FROM payout_items i JOIN payouts p ON p.id = i.payout_id
			WHERE p.status = 'sent' AND i.address = $1`, address)
		require.NoError(t, err)
		n := 0
		for txids.Next() {
			var txid string
			require.NoError(t, txids.Scan(&txid))
			assert.Contains(t, body, `title="`+txid+`"`, "%s's payment %s is listed", address, txid)
			n++
		}
		require.NoError(t, txids.Err())
		assert.Equal(t, n, strings.Count(body, "tx.dws?"), "%s: one explorer link per payment", address)
	}
	held := get(t, h, "/miners/"+minerB).Body.String()
	assert.Contains(t, held, "The pool holds this balance back: below the minimum payment.")

	// Every block with its status, every sent payout's txid with its explorer link.
	blocks := get(t, h, "/blocks").Body.String()
	rows, err := db.Query(ctx, `SELECT height, status FROM blocks WHERE coin = 'ltc'`)
	require.NoError(t, err)
	for rows.Next() {
		var height int64
		var status string
		require.NoError(t, rows.Scan(&height, &status))
		assert.Contains(t, blocks, fmt.Sprintf("<td class=\"num\">%d</td>\n<td><span class=\"status %s\">%s</span>", height, status, status))
	}
	require.NoError(t, rows.Err())
	assert.Contains(t, blocks, "37 of 101 confirmations", "the pending block's progress: the pool credits it once its wallet can spend it")

	payments := get(t, h, "/payments").Body.String()
	assert.Equal(t, int(scalar(`SELECT count(*) FROM payout_items i JOIN payouts p ON p.id = i.payout_id WHERE p.status = 'sent'`)),
		strings.Count(payments, "<tr>\n<td><time"), "one row per sent payment item")
	for _, txid := range []string{"aa11", "bb22"} {
		assert.Contains(t, payments, `href="https://chainz.cryptoid.info/ltc/tx.dws?`+txid+`.htm"`)
	}

	front := get(t, h, "/").Body.String()
	assert.Equal(t, "2", figure(front, "Miners online"))
	assert.Equal(t, "4", figure(front, "Workers online"))
	assert.Equal(t, fmt.Sprint(scalar(`SELECT count(*) FROM blocks`)), figure(front, "Blocks found"))
	assert.Equal(t, coins(scalar(`SELECT sum(paid)::bigint FROM balances`))+" LTC", figure(front, "Paid to miners"))
	assert.Equal(t, fmt.Sprint(scalar(`SELECT height FROM shares ORDER BY id DESC LIMIT 1`)), figure(front, "Block height"))
}

// A page and the API asking for the same figures cost the database one
// computation: the site shares poolapi's cache.
func TestPagesShareTheAPIsCache(t *testing.T) {
	db := startLedger(t)
	fill(t, db)
	counter := &countingDB{DB: db}
	h := New(testConfig(), counter)

	require.Equal(t, http.StatusOK, get(t, h, "/miners/"+minerA).Code)
	n := counter.N.Load()
	require.Positive(t, n)
	for _, path := range []string{
		"/api/pools/ltc/miners/" + minerA,
		"/API/Pools/ltc",
		"/api/v2/pools/ltc/miners/" + minerA + "/payments",
		"/miners/" + minerA,
	} {
		rec := get(t, h, path)
		require.Equal(t, http.StatusOK, rec.Code, path)
		assert.Equal(t, n, counter.N.Load(), "%s answered from the cache", path)
	}
	assert.Equal(t, "application/json; charset=utf-8", get(t, h, "/Api/pools").Header().Get("Content-Type"), "the API's paths in any case")
}

// With several coins the front page shows each, and the list pages and
// their links keep to the coin asked for.
func TestSeveralCoins(t *testing.T) {
	db := startLedger(t)
	fill(t, db)
	cfg := testConfig()
	other := testCoin()
	other.ID, other.Name, other.Symbol = "ltc2", "Second coin", "LT2"
	cfg.Coins = append(cfg.Coins, other)
	h := New(cfg, db)

	front := get(t, h, "/")
	require.Equal(t, http.StatusOK, front.Code, front.Body.String())
	assert.Contains(t, front.Body.String(), "<h1>Litecoin (LTC) pool</h1>")
	assert.Contains(t, front.Body.String(), "<h1>Second coin (LT2) pool</h1>")
	assert.Contains(t, front.Body.String(), `<a href="/blocks?coin=ltc2">All blocks</a>`)

	blocks := get(t, h, "/blocks?coin=ltc2")
	require.Equal(t, http.StatusOK, blocks.Code)
	assert.Contains(t, blocks.Body.String(), "No block found yet.")
	paged := get(t, h, "/blocks?coin=ltc&pageSize=1&page=1").Body.String()
	assert.Contains(t, paged, `href="/blocks?coin=ltc&amp;pageSize=1&amp;page=0"`)
	assert.Contains(t, paged, `href="/blocks?coin=ltc&amp;pageSize=1&amp;page=2"`)

	miner := get(t, h, "/miners/"+minerA)
	require.Equal(t, http.StatusOK, miner.Code)
	assert.Contains(t, miner.Body.String(), "Litecoin (LTC)")
	assert.Equal(t, http.StatusNotFound, get(t, h, "/miners/"+minerA+"?coin=ltc2").Code, "the second coin never saw it")
}
