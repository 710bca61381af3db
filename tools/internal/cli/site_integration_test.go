package cli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/chain"
	"github.com/scryptpool/poolmicrocloud/tools/internal/cluster"
	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
	"github.com/scryptpool/poolmicrocloud/tools/internal/failover"
	"github.com/scryptpool/poolmicrocloud/tools/internal/jobspec"
	"github.com/scryptpool/poolmicrocloud/tools/internal/payout"
	"github.com/scryptpool/poolmicrocloud/tools/internal/poolapi"
)

// siteShowsTheLedger reads the deployed web job's API after a miner mined
// through the dev pool and was paid, and requires every figure to be what
// the database and the wallets hold: the miner's balance, total paid and
// payments (each transaction known to a wallet and paying the miner that
// amount), every block with its status (in the wallet's main chain,
// credited only at the depth the wallet spends it), the pool's totals;
// and the miner's page shows both the mining and the payment.
func siteShowsTheLedger(t *testing.T, c *cluster.Cluster) {
	ctx := context.Background()
	base := "http://" + serviceAddr(t, c, contract.WebService("devpool"))
	get := func(path string) (int, string) { return httpGet(base + path) }
	decode := func(path string, v any) bool {
		code, body := get(path)
		return code == http.StatusOK && json.Unmarshal([]byte(body), v) == nil
	}
	units := func(n json.Number) int64 {
		u, err := payout.Units(n, 100_000_000)
		require.NoError(t, err)
		return u
	}

	conn, err := pgx.Connect(ctx, devDatabase(t, c))
	require.NoError(t, err)
	defer conn.Close(ctx)
	nomad, err := c.NomadClient()
	require.NoError(t, err)
	var wallet *chain.Client
	for addr := range walletAllocs(t, nomad) {
		wallet, err = failover.WalletClient(ctx, nomad, jobspec.WalletSecretsPath("ltc"), addr)
		require.NoError(t, err)
	}

	var paid, owed int64
	require.NoError(t, conn.QueryRow(ctx, `SELECT paid, owed FROM balances WHERE coin = 'ltc' AND address = $1`, minerAddress).Scan(&paid, &owed))
	require.Positive(t, paid, "the miner was paid before this")
	var payments []string
	rows, err := conn.Query(ctx, `
		SELECT p.txid, i.amount FROM payout_items i JOIN payouts p ON p.id = i.payout_id
		WHERE p.coin = 'ltc' AND p.status = 'sent' AND i.address = $1`, minerAddress)
	require.NoError(t, err)
	for rows.Next() {
		var txid string
		var amount int64
		require.NoError(t, rows.Scan(&txid, &amount))
		payments = append(payments, fmt.Sprintf("%s %d", txid, amount))
	}
	require.NoError(t, rows.Err())
	sort.Strings(payments)

	// Answers are cached for 15 s: the payout shows once the miner's
	// answer is renewed.
	var m poolapi.MinerStats
	waitUntil(t, "the site shows the miner's payout", func() bool {
		return decode("/api/pools/ltc/miners/"+minerAddress, &m) && m.TotalPaid != "" && units(m.TotalPaid) == paid
	})
	assert.Equal(t, owed, units(m.PendingBalance), "pendingBalance = balances.owed")
	require.NotNil(t, m.LastPayment)

	var listed []poolapi.Payment
	require.True(t, decode("/api/pools/ltc/miners/"+minerAddress+"/payments?pageSize=100", &listed))
	var got []string
	for _, p := range listed {
		assert.Equal(t, minerAddress, p.Address)
		got = append(got, fmt.Sprintf("%s %d", p.TransactionConfirmationData, units(p.Amount)))

		// The wallet that sent it knows the transaction, confirmed, and
		// that it paid the miner this amount.
		var tx struct {
			Confirmations int64 `json:"confirmations"`
			Details       []struct {
				Address  string      `json:"address"`
				Category string      `json:"category"`
				Amount   json.Number `json:"amount"`
			} `json:"details"`
		}
		require.NoError(t, wallet.Call(ctx, "gettransaction", []any{p.TransactionConfirmationData}, &tx))
		assert.Positive(t, tx.Confirmations, "payment %s confirmed", p.TransactionConfirmationData)
		var sent int64
		for _, d := range tx.Details {
			if d.Category == "send" && d.Address == minerAddress {
				sent -= units(d.Amount)
			}
		}
		assert.Equal(t, units(p.Amount), sent, "payment %s pays the miner what the site says", p.TransactionConfirmationData)
	}
	sort.Strings(got)
	assert.Equal(t, payments, got, "the miner's payments are the sent payout items")

	type block struct {
		height int64
		hash   string
		status string
	}
	var stored []block
	rows, err = conn.Query(ctx, `SELECT height, hash, status FROM blocks WHERE coin = 'ltc' ORDER BY found_at DESC, id DESC`)
	require.NoError(t, err)
	for rows.Next() {
		var b block
		require.NoError(t, rows.Scan(&b.height, &b.hash, &b.status))
		stored = append(stored, b)
	}
	require.NoError(t, rows.Err())
	require.NotEmpty(t, stored)
	var shown []poolapi.Block
	waitUntil(t, "the site lists every block", func() bool {
		return decode("/api/pools/ltc/blocks?pageSize=100", &shown) && len(shown) == len(stored)
	})
	confirmed := 0
	for i, b := range shown {
		want := stored[i]
		require.NotNil(t, b.Hash)
		assert.Equal(t, want.hash, *b.Hash)
		assert.Equal(t, want.height, int64(b.BlockHeight))
		assert.Equal(t, want.status, b.Status, "block %d's status", want.height)
		if b.Status == "orphaned" {
			continue // a block off the main chain, which this wallet may never have seen
		}
		var header struct {
			Confirmations int64 `json:"confirmations"`
		}
		require.NoError(t, wallet.Call(ctx, "getblockheader", []any{want.hash}, &header))
		switch b.Status {
		case "confirmed":
			confirmed++
			assert.GreaterOrEqual(t, header.Confirmations, int64(payout.SpendableDepth), "block %d credited only once the wallet can spend it", want.height)
			assert.Equal(t, 1.0, b.ConfirmationProgress)
		case "pending":
			assert.Positive(t, header.Confirmations, "a pending block %d is in the wallet's main chain", want.height)
		}
		assert.Equal(t, minerAddress, *b.Miner, "the finder")
	}
	assert.Positive(t, confirmed, "the miner's blocks were credited")

	var pool struct {
		Pool poolapi.PoolInfo `json:"pool"`
	}
	var totalPaid, blocks int64
	require.NoError(t, conn.QueryRow(ctx, `SELECT coalesce(sum(paid), 0)::bigint FROM balances WHERE coin = 'ltc'`).Scan(&totalPaid))
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM blocks WHERE coin = 'ltc'`).Scan(&blocks))
	waitUntil(t, "the site's pool totals", func() bool {
		return decode("/api/pools/ltc", &pool) && pool.Pool.TotalPaid != "" && units(pool.Pool.TotalPaid) == totalPaid
	})
	assert.Equal(t, blocks, pool.Pool.TotalBlocks)

	// The miner's page, as a person sees it: the payment's transaction
	// and the blocks the miner found.
	code, page := get("/miners/" + url.PathEscape(minerAddress))
	require.Equal(t, http.StatusOK, code, page)
	for _, p := range listed {
		assert.Contains(t, page, p.TransactionConfirmationData, "the page lists the payment")
	}
	assert.Contains(t, page, string(m.TotalPaid), "the page shows what was paid")
	assert.True(t, strings.Contains(page, "<td>e2e"), "the page lists the worker that mined")
	t.Logf("the site shows %d blocks (%d confirmed), %d payment(s), %s paid to %s: as the database and the wallet hold them",
		len(shown), confirmed, len(listed), m.TotalPaid, minerAddress)
}
