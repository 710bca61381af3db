package poolweb

import (
	"context"
	"html/template"
	"net/http"
	"time"

	"github.com/scryptpool/poolmicrocloud/tools/internal/poolapi"
)

// frontRows is how many blocks and payouts the front page lists.
const frontRows = 10

// frontCoin is one coin's part of the front page.
type frontCoin struct {
	Coin     poolapi.Coin
	Pool     poolapi.PoolInfo
	Hashrate float64 // the pool's, H/s over the last 10 minutes
	Scheme   string
	Day      template.HTML
	Month    template.HTML
	Blocks   []blockView
	Payments []paymentView
}

// GET /: each coin's pool at a glance. ?address= is the search form's
// shortcut to a miner's page.
func (p *pages) front(w http.ResponseWriter, r *http.Request) (string, view, error) {
	q, err := parseParams(r)
	if err != nil {
		return "", view{}, err
	}
	if address, ok := q.get("address"); ok {
		return "", view{}, redirectToMiner(w, r, address)
	}
	ctx := r.Context()
	now := p.cfg.Now().UTC()
	var coins []frontCoin
	for _, c := range p.cfg.Coins {
		fc, err := p.frontCoin(ctx, c, now)
		if err != nil {
			return "", view{}, err
		}
		coins = append(coins, fc)
	}
	return "front", view{Title: "Pool", Nav: "front", Data: coins}, nil
}

func (p *pages) frontCoin(ctx context.Context, c poolapi.Coin, now time.Time) (frontCoin, error) {
	fc := frontCoin{Coin: c, Scheme: schemeText(c)}
	var err error
	if fc.Pool, err = p.store.Pool(ctx, c.ID); err != nil {
		return fc, err
	}
	fc.Hashrate = float64(fc.Pool.PoolStats.PoolHashrate)
	day, err := p.store.PoolPerformance(ctx, c.ID, "Day", "Hour")
	if err != nil {
		return fc, err
	}
	month, err := p.store.PoolPerformance(ctx, c.ID, "Month", "Day")
	if err != nil {
		return fc, err
	}
	// The periods start where the API's first bucket does.
	fc.Day = chart{Title: c.Name + " pool hashrate, last 24 hours (hourly)", From: now.Add(-24 * time.Hour).Truncate(time.Hour), To: now, Points: poolSeries(day)}.svg()
	fc.Month = chart{Title: c.Name + " pool hashrate, last 30 days (daily)", From: now.Add(-30 * 24 * time.Hour).Truncate(24 * time.Hour), To: now, Points: poolSeries(month)}.svg()
	blocks, _, err := p.store.Blocks(ctx, c.ID, poolapi.Paging{Page: 0, Size: frontRows})
	if err != nil {
		return fc, err
	}
	fc.Blocks = blockViews(blocks, c)
	payments, _, err := p.store.Payments(ctx, c.ID, "", poolapi.Paging{Page: 0, Size: frontRows})
	if err != nil {
		return fc, err
	}
	fc.Payments = paymentViews(payments)
	return fc, nil
}
