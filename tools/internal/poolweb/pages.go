package poolweb

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/scryptpool/poolmicrocloud/tools/internal/poolapi"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static/site.css
var styleSheet []byte

// stylePath is where the pages find their style sheet.
const stylePath = "/static/site.css"

// faviconPath is where browsers look for an icon unasked.
const faviconPath = "/favicon.ico"

// contentSecurityPolicy lets a page load nothing but its own style
// sheet: no script at all, no font, no image from elsewhere.
const contentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// pages serves the site's HTML.
type pages struct {
	api   *poolapi.Handler
	store *poolapi.Store
	cfg   poolapi.Config
	tmpl  map[string]*template.Template
	// drawn are the pages as sent, for as long as their figures are
	// cached.
	drawn *rendered
}

// pageNames are the templates of templates/, each rendered inside
// layout.html.
var pageNames = []string{"front", "miner", "blocks", "payments", "start", "error"}

// NewPages returns the pages alone, over api's read model and behind
// its rate limiter; New mounts them beside the API.
func NewPages(api *poolapi.Handler) http.Handler {
	store := api.Store()
	cfg := store.Config()
	p := &pages{api: api, store: store, cfg: cfg, tmpl: map[string]*template.Template{},
		drawn: newRendered(cfg.CacheTTL, cfg.CacheEntries, cfg.Now)}
	funcs := template.FuncMap{
		"hashrate": formatHashrate,
		"large":    formatLarge,
		"percent":  formatPercent,
		"coins":    formatCoins,
		"time":     formatTime,
		"ago":      func(t time.Time) string { return formatAgo(t, p.cfg.Now()) },
		"short":    shorten,
		"minerURL": minerURL,
		"add":      func(a, b int64) int64 { return a + b },
	}
	for _, name := range pageNames {
		p.tmpl[name] = template.Must(template.New(name).Funcs(funcs).ParseFS(templateFiles, "templates/layout.html", "templates/"+name+".html"))
	}
	return p
}

// minerURL is a miner's page.
func minerURL(address string) string { return "/miners/" + url.PathEscape(address) }

// view is what every page's template gets.
type view struct {
	Title string
	Nav   string // the menu entry to mark
	Coins []poolapi.Coin
	Data  any
}

// problem is a request the site cannot answer, as the page that says so.
type problem struct {
	Status int
	Title  string
	Reason string
}

func (e *problem) Error() string { return e.Title + ": " + e.Reason }

func badRequest(reason string) *problem {
	return &problem{http.StatusBadRequest, "That request cannot be answered", reason}
}

func notFound(title, reason string) *problem {
	return &problem{http.StatusNotFound, title, reason}
}

// page computes a page's view, or fails with a *problem, a
// *poolapi.ParamError, poolapi.ErrUnknownPool or the database's error.
type page func(p *pages, w http.ResponseWriter, r *http.Request) (name string, v view, err error)

func (p *pages) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Content-Security-Policy", contentSecurityPolicy)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	default:
		hdr.Set("Allow", "GET, HEAD")
		p.fail(w, r, &problem{http.StatusMethodNotAllowed, "Method not allowed", "the pages only read: use GET"})
		return
	}
	if r.URL.Path == stylePath {
		// Not limited: it is the same bytes for everyone and costs
		// the database nothing.
		hdr.Set("Content-Type", "text/css; charset=utf-8")
		hdr.Set("Cache-Control", "public, max-age=3600")
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			_, _ = w.Write(styleSheet)
		}
		return
	}
	if r.URL.Path == faviconPath {
		// Browsers ask for it on their own; the site has no icon, and
		// says so without an error on the visitor's console.
		hdr.Set("Cache-Control", "public, max-age=86400")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if allowed, wait := p.api.Allow(r); !allowed {
		hdr.Set("Retry-After", strconv.Itoa(poolapi.RetryAfterSeconds(wait)))
		p.fail(w, r, &problem{http.StatusTooManyRequests, "Too many requests",
			fmt.Sprintf("this address asked for pages faster than %g a second; wait a few seconds and reload", p.cfg.RatePerSecond)})
		return
	}
	if body, ok := p.drawn.get(renderedKey(r.Host, r.URL.RequestURI())); ok {
		p.send(w, r, http.StatusOK, body)
		return
	}
	serve, ok := p.route(r.URL.EscapedPath())
	if !ok {
		p.fail(w, r, notFound("Page not found", "there is no page at this address; the menu above lists the pages there are"))
		return
	}
	name, v, err := serve(p, w, r)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	if name == "" {
		return // redirected
	}
	p.render(w, r, http.StatusOK, name, v)
}

// route finds the page of an escaped path, so that an address holding
// an escaped "/" is still one segment. Paths are matched exactly, a
// trailing slash aside.
func (p *pages) route(path string) (page, bool) {
	if path != "/" {
		path = strings.TrimSuffix(path, "/")
	}
	switch path {
	case "/":
		return (*pages).front, true
	case "/miners":
		return (*pages).minerSearch, true
	case "/blocks":
		return (*pages).blocks, true
	case "/payments":
		return (*pages).payments, true
	case "/start":
		return (*pages).start, true
	}
	if _, ok := minerSegment(path); ok {
		return (*pages).miner, true
	}
	return nil, false
}

// minerSegment is the address of a miner's page path, unescaped.
func minerSegment(escapedPath string) (string, bool) {
	rest, ok := strings.CutPrefix(strings.TrimSuffix(escapedPath, "/"), "/miners/")
	if !ok || rest == "" || strings.Contains(rest, "/") {
		return "", false
	}
	address, err := url.PathUnescape(rest)
	return address, err == nil
}

// fail answers err as an error page: what the visitor can fix is said,
// what the database said is logged, never shown.
func (p *pages) fail(w http.ResponseWriter, r *http.Request, err error) {
	var pr *problem
	var bad *poolapi.ParamError
	switch {
	case errors.As(err, &pr):
	case errors.As(err, &bad):
		pr = badRequest(fmt.Sprintf("%s: %s", bad.Name, bad.Reason))
	case errors.Is(err, poolapi.ErrUnknownPool):
		pr = notFound("No such pool", "this pool mines no coin by that name")
	default:
		p.cfg.Logger.Error("page failed", "path", r.URL.Path, "err", err)
		w.Header().Set("Retry-After", "30")
		pr = &problem{http.StatusServiceUnavailable, "The pool's figures are not available",
			"the pool's database did not answer; the pool itself may well be mining. Try again in a minute."}
	}
	p.render(w, r, pr.Status, "error", view{Title: pr.Title, Data: pr})
}

// render writes a page whole, or a plain 500 if its template fails:
// never half a page.
func (p *pages) render(w http.ResponseWriter, r *http.Request, status int, name string, v view) {
	v.Coins = p.cfg.Coins
	var buf bytes.Buffer
	if err := p.tmpl[name].ExecuteTemplate(&buf, "layout", v); err != nil {
		p.cfg.Logger.Error("render page", "page", name, "err", err)
		http.Error(w, "the page could not be drawn", http.StatusInternalServerError)
		return
	}
	if status == http.StatusOK {
		p.drawn.put(renderedKey(r.Host, r.URL.RequestURI()), buf.Bytes())
	}
	p.send(w, r, status, buf.Bytes())
}

// send writes a drawn page.
func (p *pages) send(w http.ResponseWriter, r *http.Request, status int, body []byte) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if status == http.StatusOK {
		w.Header().Set("Cache-Control", p.cfg.CacheControl())
	} else {
		w.Header().Set("Cache-Control", "no-store")
	}
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// params reads a page's query: every parameter at most once.
type params url.Values

func parseParams(r *http.Request) (params, error) {
	v, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, badRequest("query: not a valid query string: " + err.Error())
	}
	for k, vs := range v {
		if len(vs) > 1 {
			return nil, badRequest(fmt.Sprintf("%s is given %d times, once at most", quote(k), len(vs)))
		}
	}
	return params(v), nil
}

func (q params) get(name string) (string, bool) {
	vs, ok := q[name]
	if !ok || len(vs) == 0 {
		return "", false
	}
	return vs[0], true
}

// coin is the coin a list page shows: ?coin=, else the first.
func (p *pages) coin(q params) (poolapi.Coin, error) {
	id, ok := q.get("coin")
	if !ok {
		if len(p.cfg.Coins) == 0 {
			return poolapi.Coin{}, notFound("No pool", "this site is configured with no coin")
		}
		return p.cfg.Coins[0], nil
	}
	for _, c := range p.cfg.Coins {
		if c.ID == id {
			return c, nil
		}
	}
	return poolapi.Coin{}, notFound("No such pool", fmt.Sprintf("this pool mines no coin named %s", quote(id)))
}

// maxQuoted bounds what a message quotes back of the visitor's input.
const maxQuoted = 40

func quote(s string) string {
	if r := []rune(s); len(r) > maxQuoted {
		s = string(r[:maxQuoted]) + "…"
	}
	return strconv.Quote(s)
}

// pager is a list page's position, for its links.
type pager struct {
	Page, Pages int64
	Base        string // the page's path and query before page=
}

func (g pager) HasPrev() bool       { return g.Page > 0 }
func (g pager) HasNext() bool       { return g.Page+1 < g.Pages }
func (g pager) Prev() string        { return g.link(g.Page - 1) }
func (g pager) Next() string        { return g.link(g.Page + 1) }
func (g pager) link(n int64) string { return g.Base + "page=" + strconv.FormatInt(n, 10) }

// checkPage refuses a page past the last (page 0 of an empty list is
// fine: it says the list is empty).
func checkPage(pg poolapi.Paging, pages int64) error {
	if pg.Page > 0 && pg.Page >= pages {
		last := "there are none"
		if pages > 0 {
			last = fmt.Sprintf("the last is page=%d", pages-1)
		}
		return badRequest(fmt.Sprintf("page: %d is past the last page (pages count from 0; %s)", pg.Page, last))
	}
	return nil
}
