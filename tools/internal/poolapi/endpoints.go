package poolapi

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// GET /api/pools
func (h *Handler) pools(rq *request) (string, loader, error) {
	hours, err := rq.q.topMinersRange()
	if err != nil {
		return "", nil, err
	}
	key := fmt.Sprintf("pools range=%d", hours)
	return key, func(ctx context.Context, now time.Time) (any, error) {
		resp := poolsResponse{Pools: []PoolInfo{}}
		for _, c := range h.order {
			info, err := h.poolInfo(ctx, c, time.Duration(hours)*time.Hour, now)
			if err != nil {
				return nil, err
			}
			resp.Pools = append(resp.Pools, info)
		}
		return resp, nil
	}, nil
}

// GET /api/pools/{id}
func (h *Handler) pool(rq *request) (string, loader, error) {
	hours, err := rq.q.topMinersRange()
	if err != nil {
		return "", nil, err
	}
	key := fmt.Sprintf("pool %s range=%d", rq.coin.ID, hours)
	return key, func(ctx context.Context, now time.Time) (any, error) {
		info, err := h.poolInfo(ctx, rq.coin, time.Duration(hours)*time.Hour, now)
		return poolResponse{Pool: info}, err
	}, nil
}

// GET /api/pools/{id}/performance?r=Day|Month&i=Hour|Day
func (h *Handler) performance(rq *request) (string, loader, error) {
	r, err := rq.q.sampleRange("r")
	if err != nil {
		return "", nil, err
	}
	var rng time.Duration
	switch r {
	case rangeDay:
		rng = 24 * time.Hour
	case rangeMonth:
		rng = 30 * 24 * time.Hour
	default:
		// MiningCore answers 200 "invalid interval" here; a 400 says it.
		return "", nil, &ParamError{"r", "the pool's performance is by Day or Month, not Hour"}
	}
	i, err := rq.q.enumParam("i", sampleIntervals, "hour")
	if err != nil {
		return "", nil, err
	}
	bin := time.Hour
	if i == "day" {
		bin = 24 * time.Hour
	}
	key := fmt.Sprintf("performance %s r=%s i=%s", rq.coin.ID, r, i)
	return key, func(ctx context.Context, now time.Time) (any, error) {
		stats, err := h.poolPerformance(ctx, rq.coin, rng, bin, now)
		return poolPerformanceResponse{Stats: stats}, err
	}, nil
}

// GET /api/pools/{id}/miners
func (h *Handler) miners(rq *request) (string, loader, error) {
	p, err := rq.q.paging(h.cfg.MaxPageSize)
	if err != nil {
		return "", nil, err
	}
	hours, err := rq.q.topMinersRange()
	if err != nil {
		return "", nil, err
	}
	key := fmt.Sprintf("miners %s page=%d size=%d range=%d", rq.coin.ID, p.page, p.size, hours)
	return key, func(ctx context.Context, now time.Time) (any, error) {
		return h.topMiners(ctx, rq.coin, time.Duration(hours)*time.Hour, p.offset(), p.size, now)
	}, nil
}

// blocksOf serves GET /api/pools/{id}/blocks, its /api/v2 paged form,
// and GET /api/blocks (every pool's).
func blocksOf(allPools, paged bool) endpoint {
	return func(h *Handler, rq *request) (string, loader, error) {
		p, err := rq.q.paging(h.cfg.MaxPageSize)
		if err != nil {
			return "", nil, err
		}
		states, err := rq.q.states()
		if err != nil {
			return "", nil, err
		}
		coins := h.order
		scope := "*"
		if !allPools {
			coins, scope = []*Coin{rq.coin}, rq.coin.ID
		}
		key := fmt.Sprintf("blocks %s v2=%v page=%d size=%d state=%s", scope, paged, p.page, p.size, strings.Join(states, ","))
		return key, func(ctx context.Context, _ time.Time) (any, error) {
			blocks, err := h.blocks(ctx, coins, states, p.offset(), p.size)
			if err != nil || !paged {
				return blocks, err
			}
			// MiningCore's count ignores the state filter; this one does not.
			n, err := h.blockCount(ctx, coins, states)
			return pagedResult{Result: blocks, Success: true, PageCount: p.pageCount(n)}, err
		}, nil
	}
}

// paymentsOf serves the pool's and a miner's payments, plain and /api/v2.
func paymentsOf(paged bool) endpoint {
	return func(h *Handler, rq *request) (string, loader, error) {
		p, err := rq.q.paging(h.cfg.MaxPageSize)
		if err != nil {
			return "", nil, err
		}
		key := fmt.Sprintf("payments %s address=%s v2=%v page=%d size=%d", rq.coin.ID, rq.address, paged, p.page, p.size)
		return key, func(ctx context.Context, _ time.Time) (any, error) {
			payments, err := h.payments(ctx, rq.coin, rq.address, p.offset(), p.size)
			if err != nil || !paged {
				return payments, err
			}
			n, err := h.paymentCount(ctx, rq.coin, rq.address)
			return pagedResult{Result: payments, Success: true, PageCount: p.pageCount(n)}, err
		}, nil
	}
}

// balanceChangesOf serves a miner's balance changes, plain and /api/v2.
func balanceChangesOf(paged bool) endpoint {
	return func(h *Handler, rq *request) (string, loader, error) {
		p, err := rq.q.paging(h.cfg.MaxPageSize)
		if err != nil {
			return "", nil, err
		}
		key := fmt.Sprintf("balancechanges %s %s v2=%v page=%d size=%d", rq.coin.ID, rq.address, paged, p.page, p.size)
		return key, func(ctx context.Context, _ time.Time) (any, error) {
			changes, err := h.balanceChanges(ctx, rq.coin, rq.address, p.offset(), p.size)
			if err != nil || !paged {
				return changes, err
			}
			n, err := h.count(ctx, sqlBalanceChangeCount, rq.coin.ID, rq.address)
			return pagedResult{Result: changes, Success: true, PageCount: p.pageCount(n)}, err
		}, nil
	}
}

// dailyEarningsOf serves a miner's payments summed by UTC day, plain and /api/v2.
func dailyEarningsOf(paged bool) endpoint {
	return func(h *Handler, rq *request) (string, loader, error) {
		p, err := rq.q.paging(h.cfg.MaxPageSize)
		if err != nil {
			return "", nil, err
		}
		key := fmt.Sprintf("earnings %s %s v2=%v page=%d size=%d", rq.coin.ID, rq.address, paged, p.page, p.size)
		return key, func(ctx context.Context, _ time.Time) (any, error) {
			days, err := h.dailyEarnings(ctx, rq.coin, rq.address, p.offset(), p.size)
			if err != nil || !paged {
				return days, err
			}
			n, err := h.count(ctx, sqlDailyEarningCount, rq.coin.ID, rq.address)
			return pagedResult{Result: days, Success: true, PageCount: p.pageCount(n)}, err
		}, nil
	}
}

// GET /api/pools/{id}/miners/{address}?perfMode=Hour|Day|Month
func (h *Handler) miner(rq *request) (string, loader, error) {
	r, err := rq.q.sampleRange("perfMode")
	if err != nil {
		return "", nil, err
	}
	key := fmt.Sprintf("miner %s %s perfMode=%s", rq.coin.ID, rq.address, r)
	return key, func(ctx context.Context, now time.Time) (any, error) {
		return h.minerStats(ctx, rq.coin, rq.address, r, now)
	}, nil
}

// GET /api/pools/{id}/miners/{address}/performance?mode=Hour|Day|Month
func (h *Handler) minerPerformanceRoute(rq *request) (string, loader, error) {
	r, err := rq.q.sampleRange("mode")
	if err != nil {
		return "", nil, err
	}
	key := fmt.Sprintf("miner performance %s %s mode=%s", rq.coin.ID, rq.address, r)
	return key, func(ctx context.Context, now time.Time) (any, error) {
		return h.minerPerformance(ctx, rq.coin, rq.address, r, now)
	}, nil
}

// networkTypes are NBitcoin's names, which MiningCore writes.
var networkTypes = map[string]string{"mainnet": "Main", "testnet": "TestNet", "regtest": "RegTest"}

// payoutSchemes are MiningCore's names of ours.
var payoutSchemes = map[string]string{"pplns": "PPLNS", "proportional": "PROP"}

// staticPoolInfo is the part of PoolInfo the pool definition says.
func (h *Handler) staticPoolInfo(c *Coin) PoolInfo {
	info := PoolInfo{
		ID: c.ID,
		Coin: APICoin{
			Type: c.Symbol, Name: c.Name, Symbol: c.Symbol, Family: c.Family,
			Algorithm: c.Algorithm, CanonicalName: c.Name,
		},
		Ports: map[string]PoolEndpoint{},
		PaymentProcessing: PaymentProcessing{
			Enabled: true, MinimumPayment: c.MinimumPayment,
			PayoutScheme:         payoutSchemes[c.Scheme],
			PayoutSchemeConfig:   map[string]any{},
			MinimumConfirmations: c.Confirmations,
		},
		PoolFeePercent:  c.FeePercent,
		Address:         c.Address,
		AddressInfoLink: link(c.Explorer.AddressLink, c.Address),
		NetworkStats:    NetworkStats{NetworkType: networkTypes[c.Network], RewardType: "POW"},
		TopMiners:       []MinerPerformanceStats{},
	}
	if info.PaymentProcessing.PayoutScheme == "" {
		info.PaymentProcessing.PayoutScheme = strings.ToUpper(c.Scheme)
	}
	if c.Scheme == "pplns" {
		// MiningCore's PPLNS "factor" is our window N.
		info.PaymentProcessing.PayoutSchemeConfig["factor"] = c.Window
	}
	if c.Website != "" {
		info.Coin.Website = &c.Website
	}
	for _, p := range c.Ports {
		ep := PoolEndpoint{ListenAddress: p.ListenAddress, Name: p.Name, Difficulty: p.Difficulty}
		if p.MinDiff > 0 || p.MaxDiff > 0 || p.TargetTime > 0 {
			vd := &VarDiff{MinDiff: p.MinDiff, TargetTime: p.TargetTime, RetargetTime: p.RetargetTime}
			if p.MaxDiff > 0 {
				maxDiff := p.MaxDiff
				vd.MaxDiff = &maxDiff
			}
			ep.VarDiff = vd
		}
		info.Ports[strconv.Itoa(p.Port)] = ep
	}
	return info
}
