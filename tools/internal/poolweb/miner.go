package poolweb

import (
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/scryptpool/poolmicrocloud/tools/internal/poolapi"
)

// GET /miners?address=: the search form's target.
func (p *pages) minerSearch(w http.ResponseWriter, r *http.Request) (string, view, error) {
	q, err := parseParams(r)
	if err != nil {
		return "", view{}, err
	}
	address, _ := q.get("address")
	return "", view{}, redirectToMiner(w, r, address)
}

// redirectToMiner sends the search form to the miner's page, which
// checks the address.
func redirectToMiner(w http.ResponseWriter, r *http.Request, address string) error {
	address = strings.TrimSpace(address)
	if address == "" {
		return badRequest("address: enter the address you mine to (the part of your username before the dot)")
	}
	// A username pasted whole: ADDRESS.WORKER.
	address, _, _ = strings.Cut(address, ".")
	http.Redirect(w, r, minerURL(address), http.StatusSeeOther)
	return nil
}

// workerView is one of a miner's workers.
type workerView struct {
	Name            string
	Hashrate        float64 // H/s over the last 10 minutes
	SharesPerSecond float64
	LastShare       time.Time
	Online          bool // a share in the last 10 minutes
}

// minerPage is a miner's page.
type minerPage struct {
	Coin     poolapi.Coin
	Address  string
	Stats    poolapi.MinerStats
	Hashrate float64
	Workers  []workerView
	Chart    template.HTML
	Payments []paymentView
	Pager    pager
	Estimate estimate
	// Others are the other coins this address mines.
	Others []poolapi.Coin
}

// GET /miners/{address}?coin=&page=: a miner's hashrate, workers,
// balance, payments and an estimate of earnings.
func (p *pages) miner(w http.ResponseWriter, r *http.Request) (string, view, error) {
	q, err := parseParams(r)
	if err != nil {
		return "", view{}, err
	}
	raw, _ := minerSegment(r.URL.EscapedPath())
	candidates := p.cfg.Coins
	if _, ok := q.get("coin"); ok {
		c, err := p.coin(q)
		if err != nil {
			return "", view{}, err
		}
		candidates = []poolapi.Coin{c}
	}
	paging, err := p.store.Paging(r.URL.RawQuery)
	if err != nil {
		return "", view{}, err
	}

	// The address is checked against each coin's network; the page is
	// the first coin's that knows it.
	ctx := r.Context()
	var reasons []string
	var found []poolapi.Coin
	address := ""
	for _, c := range candidates {
		a, err := p.store.CanonicalAddress(c.ID, raw)
		var bad *poolapi.ParamError
		if errors.As(err, &bad) {
			reasons = append(reasons, bad.Reason)
			continue
		} else if err != nil {
			return "", view{}, err
		}
		address = a
		known, err := p.store.MinerKnown(ctx, c.ID, a)
		if err != nil {
			return "", view{}, err
		}
		if known {
			found = append(found, c)
		}
	}
	switch {
	case address == "":
		return "", view{}, badRequest("address: " + strings.Join(reasons, "; "))
	case len(found) == 0:
		return "", view{}, notFound("No such miner", fmt.Sprintf(
			"%s is a valid address, but this pool has never had a share from it nor owes it anything. "+
				"If you just started mining, your first shares appear within a minute.", address))
	}
	c := found[0]

	mp := minerPage{Coin: c, Address: address, Others: found[1:]}
	if mp.Stats, err = p.store.Miner(ctx, c.ID, address); err != nil {
		return "", view{}, err
	}
	seen, err := p.store.Workers(ctx, c.ID, address)
	if err != nil {
		return "", view{}, err
	}
	mp.Workers = workerViews(mp.Stats.Performance, seen)
	for _, wv := range mp.Workers {
		mp.Hashrate += wv.Hashrate
	}
	now := p.cfg.Now().UTC()
	mp.Chart = chart{Title: "Hashrate of " + address + ", last 24 hours (hourly)",
		From: now.Add(-24 * time.Hour).Truncate(time.Hour), To: now, Points: minerSeries(mp.Stats.PerformanceSamples)}.svg()

	payments, pages, err := p.store.Payments(ctx, c.ID, address, paging)
	if err != nil {
		return "", view{}, err
	}
	if err := checkPage(paging, pages); err != nil {
		return "", view{}, err
	}
	mp.Payments = paymentViews(payments)
	mp.Pager = pager{Page: paging.Page, Pages: pages, Base: p.pagerBase(minerURL(address), c, paging)}

	pool, err := p.store.Pool(ctx, c.ID)
	if err != nil {
		return "", view{}, err
	}
	recent, _, err := p.store.Blocks(ctx, c.ID, poolapi.Paging{Page: 0, Size: estimateBlocks})
	if err != nil {
		return "", view{}, err
	}
	mp.Estimate = estimateEarnings(mp.Hashrate, pool.NetworkStats.NetworkDifficulty, c.FeePercent, recent)
	return "miner", view{Title: "Miner " + shorten(address), Nav: "miner", Data: mp}, nil
}

// estimateBlocks is how many of the pool's recent blocks the estimate
// averages the reward of.
const estimateBlocks = 15

// coinQuery is "coin=ID&" when the site has several coins, so that a
// page's links stay on its coin.
func coinQuery(c poolapi.Coin, coins int) string {
	if coins < 2 {
		return ""
	}
	return "coin=" + url.QueryEscape(c.ID) + "&"
}

// workerViews joins the workers' current rates with when stratum last
// saw each; the unnamed worker sorts first.
func workerViews(now *poolapi.WorkerPerformance, seen []poolapi.WorkerSeen) []workerView {
	byName := map[string]*workerView{}
	var out []*workerView
	for _, s := range seen {
		v := &workerView{Name: s.Name, LastShare: s.LastSeen}
		byName[s.Name] = v
		out = append(out, v)
	}
	if now != nil {
		for name, rate := range now.Workers {
			v := byName[name]
			if v == nil {
				v = &workerView{Name: name}
				byName[name] = v
				out = append(out, v)
			}
			v.Hashrate, v.SharesPerSecond, v.Online = rate.Hashrate, rate.SharesPerSecond, true
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	views := make([]workerView, len(out))
	for i, v := range out {
		views[i] = *v
	}
	return views
}
