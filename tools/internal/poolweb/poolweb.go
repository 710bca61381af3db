// Package poolweb serves the pool's web pages: what miners look at
// every day, rendered on the server with html/template, readable
// without JavaScript and on a phone, with hashrate charts drawn as
// inline SVG and one small embedded style sheet, so that nothing is
// fetched from anywhere but the pool.
//
// Every figure comes from poolapi's read model: the same queries as
// the JSON API, through the same cache, behind the same per-client
// rate limiter. Input is checked as the API checks it (addresses by
// their checksums, pages by their bounds) and refused with a page that
// says why.
package poolweb

import (
	"net/http"
	"strings"

	"github.com/scryptpool/poolmicrocloud/tools/internal/poolapi"
)

// New returns the pool's site for cfg's coins over db: the JSON API
// under /api/ (matched case-insensitively, as the API matches its
// routes) and the pages everywhere else, sharing one cache and one rate
// limiter.
func New(cfg poolapi.Config, db poolapi.Querier) http.Handler {
	api := poolapi.New(cfg, db)
	return &site{api: api, pages: NewPages(api)}
}

type site struct {
	api   *poolapi.Handler
	pages http.Handler
}

func (s *site) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if isAPI(r.URL.Path) {
		s.api.ServeHTTP(w, r)
		return
	}
	s.pages.ServeHTTP(w, r)
}

// isAPI says whether path is the API's: its first segment is "api" in
// any case.
func isAPI(path string) bool {
	first, _, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	return strings.EqualFold(first, "api")
}
