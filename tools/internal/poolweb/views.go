package poolweb

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/scryptpool/poolmicrocloud/tools/internal/poolapi"
)

// blockView is a block as the tables show it.
type blockView struct {
	Height        uint64
	Status        string // pending, confirmed or orphaned
	Progress      float64
	Confirmations int64
	Needed        int // confirmations before it is credited
	Reward        string
	Finder        string
	Found         time.Time
	Hash          string
	Link          string // the explorer's page, "" without one
	Effort        *float64
}

func blockViews(bs []poolapi.Block, c poolapi.Coin) []blockView {
	out := make([]blockView, 0, len(bs))
	for _, b := range bs {
		v := blockView{
			Height: b.BlockHeight, Status: b.Status, Progress: b.ConfirmationProgress,
			Confirmations: b.Confirmations, Needed: c.Confirmations, Reward: b.Reward.String(),
			Found: b.Created, Effort: b.Effort,
		}
		if b.Miner != nil {
			v.Finder = *b.Miner
		}
		if b.Hash != nil {
			v.Hash = *b.Hash
		}
		if b.InfoLink != nil {
			v.Link = *b.InfoLink
		}
		out = append(out, v)
	}
	return out
}

// paymentView is one address's part of a sent payout.
type paymentView struct {
	Address     string
	Amount      string
	TxID        string
	TxLink      string // the explorer's page, "" without one
	AddressLink string
	Sent        time.Time
}

func paymentViews(ps []poolapi.Payment) []paymentView {
	out := make([]paymentView, 0, len(ps))
	for _, p := range ps {
		v := paymentView{Address: p.Address, Amount: p.Amount.String(), TxID: p.TransactionConfirmationData, Sent: p.Created}
		if p.TransactionInfoLink != nil {
			v.TxLink = *p.TransactionInfoLink
		}
		if p.AddressInfoLink != nil {
			v.AddressLink = *p.AddressInfoLink
		}
		out = append(out, v)
	}
	return out
}

// schemeText says how the pool splits a block, in words.
func schemeText(c poolapi.Coin) string {
	switch c.Scheme {
	case "pplns":
		return fmt.Sprintf("PPLNS: a block pays the last shares worth %g × the network difficulty (N = %g), in proportion to each miner's part of them", c.Window, c.Window)
	case "proportional":
		return "Proportional: a block pays the shares of its round (since the previous block), in proportion to each miner's part of them"
	case "":
		return "not configured"
	}
	return c.Scheme
}

// hashrateSeries is the pool's samples as a chart's points.
func poolSeries(stats []poolapi.AggregatedPoolStats) []point {
	out := make([]point, 0, len(stats))
	for _, s := range stats {
		out = append(out, point{At: s.Created, Value: s.PoolHashrate})
	}
	return out
}

// minerSeries adds up a miner's workers in each sample.
func minerSeries(samples []poolapi.WorkerPerformance) []point {
	out := make([]point, 0, len(samples))
	for _, s := range samples {
		// In the workers' order, not the map's: a float sum depends on
		// its order, and the page must not change between two draws.
		sum := 0.0
		for _, name := range slices.Sorted(maps.Keys(s.Workers)) {
			sum += s.Workers[name].Hashrate
		}
		out = append(out, point{At: s.Created, Value: sum})
	}
	return out
}
