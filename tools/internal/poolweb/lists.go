package poolweb

import (
	"net/http"
	"strconv"

	"github.com/scryptpool/poolmicrocloud/tools/internal/poolapi"
)

// listPage is a page of blocks or payouts of one coin.
type listPage struct {
	Coin     poolapi.Coin
	Blocks   []blockView
	Payments []paymentView
	Pager    pager
	// Several says the site has more than one coin to choose from.
	Several bool
}

// GET /blocks?coin=&page=&pageSize=: the pool's blocks, newest first.
func (p *pages) blocks(w http.ResponseWriter, r *http.Request) (string, view, error) {
	lp, paging, err := p.list(r, "/blocks")
	if err != nil {
		return "", view{}, err
	}
	blocks, pages, err := p.store.Blocks(r.Context(), lp.Coin.ID, paging)
	if err != nil {
		return "", view{}, err
	}
	if err := checkPage(paging, pages); err != nil {
		return "", view{}, err
	}
	lp.Blocks, lp.Pager.Pages = blockViews(blocks, lp.Coin), pages
	return "blocks", view{Title: lp.Coin.Name + " blocks", Nav: "blocks", Data: lp}, nil
}

// GET /payments?coin=&page=&pageSize=: the pool's payouts, newest first.
func (p *pages) payments(w http.ResponseWriter, r *http.Request) (string, view, error) {
	lp, paging, err := p.list(r, "/payments")
	if err != nil {
		return "", view{}, err
	}
	payments, pages, err := p.store.Payments(r.Context(), lp.Coin.ID, "", paging)
	if err != nil {
		return "", view{}, err
	}
	if err := checkPage(paging, pages); err != nil {
		return "", view{}, err
	}
	lp.Payments, lp.Pager.Pages = paymentViews(payments), pages
	return "payments", view{Title: lp.Coin.Name + " payments", Nav: "payments", Data: lp}, nil
}

// list reads a list page's coin and paging, as the API reads paging.
func (p *pages) list(r *http.Request, path string) (listPage, poolapi.Paging, error) {
	q, err := parseParams(r)
	if err != nil {
		return listPage{}, poolapi.Paging{}, err
	}
	c, err := p.coin(q)
	if err != nil {
		return listPage{}, poolapi.Paging{}, err
	}
	paging, err := p.store.Paging(r.URL.RawQuery)
	if err != nil {
		return listPage{}, poolapi.Paging{}, err
	}
	return listPage{Coin: c, Pager: pager{Page: paging.Page, Base: p.pagerBase(path, c, paging)}, Several: len(p.cfg.Coins) > 1}, paging, nil
}

// pagerBase is a paged page's path and query before page=: its coin
// when the pool has several, its page size when not the default.
func (p *pages) pagerBase(path string, c poolapi.Coin, paging poolapi.Paging) string {
	base := path + "?" + coinQuery(c, len(p.cfg.Coins))
	if def, _ := p.store.Paging(""); paging.Size != def.Size {
		base += "pageSize=" + strconv.FormatInt(paging.Size, 10) + "&"
	}
	return base
}
