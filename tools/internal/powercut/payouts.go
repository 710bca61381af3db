package powercut

import (
	"context"
	"fmt"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
	"github.com/scryptpool/poolmicrocloud/tools/internal/failover"
	"github.com/scryptpool/poolmicrocloud/tools/internal/jobspec"
)

// Payouts is what the ledger and the wallets say of the coin's payouts
// after the power came back.
type Payouts struct {
	// Sent payouts are recorded sent; Open intents are not settled yet.
	Sent, Open int
	// Doubled are payouts a wallet sent more than once (two sends with
	// the payout's id as comment).
	Doubled int
	// Lost are payouts recorded sent whose transaction no wallet
	// instance knows, and miners whose ledger does not add up (owed and
	// paid beside what was credited and what the sent payouts carried).
	Lost int
}

// CheckPayouts compares the ledger's payouts with the wallets'.
func (p *Pool) CheckPayouts(ctx context.Context) (Payouts, error) {
	var out Payouts
	db, err := p.open()
	if err != nil {
		return out, err
	}
	defer db.Close()
	if err := db.QueryRow(ctx, `SELECT count(*) FILTER (WHERE status = 'sent'), count(*) FILTER (WHERE status = 'intent') FROM payouts WHERE coin = $1`, p.Coin).
		Scan(&out.Sent, &out.Open); err != nil {
		return out, fmt.Errorf("count payouts: %w", err)
	}
	var unbalanced int
	if err := db.QueryRow(ctx, `
		SELECT count(*) FROM balances b
		WHERE b.coin = $1 AND (
			b.owed + b.paid <> coalesce((SELECT sum(c.amount) FROM credits c WHERE c.coin = b.coin AND c.address = b.address), 0)
			OR b.paid <> coalesce((SELECT sum(i.amount) FROM payout_items i JOIN payouts o ON o.id = i.payout_id
				WHERE o.status = 'sent' AND o.coin = b.coin AND i.address = b.address), 0))`, p.Coin).Scan(&unbalanced); err != nil {
		return out, fmt.Errorf("compare balances with credits and payouts: %w", err)
	}
	out.Lost += unbalanced
	rows, err := db.Query(ctx, `SELECT id, coalesce(txid, '') FROM payouts WHERE coin = $1 AND status = 'sent'`, p.Coin)
	if err != nil {
		return out, fmt.Errorf("read payouts: %w", err)
	}
	sent := map[string]string{}
	for rows.Next() {
		var id, txid string
		if err := rows.Scan(&id, &txid); err != nil {
			rows.Close()
			return out, err
		}
		sent[id] = txid
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return out, err
	}

	// Every wallet instance's sends, by comment (the payout's id).
	wallets, _, err := p.Consul.Health().Service(contract.WalletService(p.Coin), "", true, (&consulapi.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return out, err
	}
	known := map[string]bool{}
	sends := map[string]map[string]bool{} // payout id -> txids
	for _, w := range wallets {
		client, err := failover.WalletClient(ctx, p.Nomad, jobspec.WalletSecretsPath(p.Coin), fmt.Sprintf("%s:%d", w.Service.Address, w.Service.Port))
		if err != nil {
			return out, err
		}
		const page = 1000
		for skip := 0; ; skip += page {
			var txs []struct {
				TxID     string `json:"txid"`
				Category string `json:"category"`
				Comment  string `json:"comment"`
			}
			if err := client.Call(ctx, "listtransactions", []any{"*", page, skip, true}, &txs); err != nil {
				return out, fmt.Errorf("listtransactions on %s: %w", w.Service.ID, err)
			}
			for _, tx := range txs {
				known[tx.TxID] = true
				if tx.Category == "send" && tx.Comment != "" {
					if sends[tx.Comment] == nil {
						sends[tx.Comment] = map[string]bool{}
					}
					sends[tx.Comment][tx.TxID] = true
				}
			}
			if len(txs) < page {
				break
			}
		}
	}
	for id, txid := range sent {
		if !known[txid] {
			out.Lost++
		}
		if len(sends[id]) > 1 {
			out.Doubled++
		}
	}
	return out, nil
}
