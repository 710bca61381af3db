package payout

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/scryptpool/poolmicrocloud/tools/internal/chain"
)

// Wallet is the part of a coin daemon's RPC the payout and block jobs
// use. *chain.Client does it for real.
type Wallet interface {
	Call(ctx context.Context, method string, params []any, result any) error
}

// Coins formats units as the exact decimal the daemon's JSON expects
// (never through a float: 0.1 coin is 10,000,000 units, not about that).
func Coins(units, unitsPerCoin int64) json.Number {
	digits := len(fmt.Sprint(unitsPerCoin)) - 1
	sign := ""
	if units < 0 {
		sign, units = "-", -units
	}
	return json.Number(fmt.Sprintf("%s%d.%0*d", sign, units/unitsPerCoin, digits, units%unitsPerCoin))
}

// Units reads a daemon's decimal amount as units, exactly.
func Units(amount json.Number, unitsPerCoin int64) (int64, error) {
	s := string(amount)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	whole, frac, _ := strings.Cut(s, ".")
	digits := len(fmt.Sprint(unitsPerCoin)) - 1
	if len(frac) > digits || whole == "" {
		return 0, fmt.Errorf("amount %s is not a whole number of units", amount)
	}
	frac += strings.Repeat("0", digits-len(frac))
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("amount %s: %w", amount, err)
	}
	var f int64
	if frac != "" {
		if f, err = strconv.ParseInt(frac, 10, 64); err != nil {
			return 0, fmt.Errorf("amount %s: %w", amount, err)
		}
	}
	u := w*unitsPerCoin + f
	if neg {
		u = -u
	}
	return u, nil
}

// walletTx is what gettransaction and listtransactions say of a
// transaction.
type walletTx struct {
	TxID          string      `json:"txid"`
	Category      string      `json:"category"`
	Amount        json.Number `json:"amount"`
	Confirmations int64       `json:"confirmations"`
	Comment       string      `json:"comment"`
	Details       []struct {
		Category string      `json:"category"`
		Address  string      `json:"address"`
		Amount   json.Number `json:"amount"`
	} `json:"details"`
}

// findByComment looks through the wallet's transactions, newest first,
// for a send carrying comment; "" when there is none.
func findByComment(ctx context.Context, w Wallet, comment string) (string, error) {
	const page = 1000
	for skip := 0; ; skip += page {
		var txs []walletTx
		if err := w.Call(ctx, "listtransactions", []any{"*", page, skip, true}, &txs); err != nil {
			return "", fmt.Errorf("listtransactions: %w", err)
		}
		for _, tx := range txs {
			if tx.Category == "send" && tx.Comment == comment {
				return tx.TxID, nil
			}
		}
		if len(txs) < page {
			return "", nil
		}
	}
}

// spendable is the wallet's confirmed, mature balance in units.
func spendable(ctx context.Context, w Wallet, unitsPerCoin int64) (int64, error) {
	var b struct {
		Mine struct {
			Trusted json.Number `json:"trusted"`
		} `json:"mine"`
	}
	if err := w.Call(ctx, "getbalances", nil, &b); err != nil {
		return 0, fmt.Errorf("getbalances: %w", err)
	}
	return Units(b.Mine.Trusted, unitsPerCoin)
}

// definitelyNotSent tells whether a failed send certainly left the wallet
// without a transaction: the daemon answered with an error. A timeout or
// a lost connection may have sent it.
func definitelyNotSent(err error) bool {
	return chain.KindOf(err) == chain.RPC
}
