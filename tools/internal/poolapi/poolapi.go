// Package poolapi serves the pool's figures as MiningCore's JSON API
// (github.com/oliverw/miningcore, Api/Controllers/PoolApiController.cs),
// so that MiningCore front-ends and scripts work against this pool.
//
// Every figure is read from the tables the pool already keeps (shares,
// blocks, balances, payouts, payout_items, stats_hourly); the API never
// writes and never migrates. Answers are cached for a short time with
// concurrent misses collapsed into one computation, and each client
// address has a token bucket, so that a Raspberry Pi can serve it and a
// client asking too fast never reaches the database.
//
// Store gives the same answers to Go callers as values (the web pages
// of package poolweb), through the same cache; Allow lets them share
// the rate limiter.
//
// Hostile input is refused before any query: pool ids match exactly,
// addresses must be valid on the coin's network (base58check or bech32
// checksums), and query parameters are bounded; the SQL is constant
// text with bound parameters.
package poolapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/scryptpool/poolmicrocloud/tools/internal/chain"
	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
)

// Handler answers the API's routes.
type Handler struct {
	cfg     Config
	db      Querier
	coins   map[string]*Coin
	order   []*Coin
	cache   *cache
	limiter *limiter
	efforts efforts
}

// New returns the API over db (a *pgxpool.Pool) for cfg's coins.
func New(cfg Config, db Querier) *Handler {
	cfg = cfg.withDefaults()
	h := &Handler{
		cfg: cfg, db: db, coins: map[string]*Coin{},
		cache:   newCache(cfg.CacheTTL, cfg.CacheEntries, cfg.CacheBytes, cfg.Now),
		limiter: newLimiter(cfg.RatePerSecond, cfg.Burst, cfg.Now),
	}
	for i := range cfg.Coins {
		c := &cfg.Coins[i]
		h.coins[c.ID] = c
		h.order = append(h.order, c)
	}
	return h
}

// request is a routed request: its pool (if the route names one), the
// canonical spelling of its address (if it names one), its query.
type request struct {
	coin    *Coin
	address string
	q       query
}

// loader computes an answer's value; it is JSON-encoded and cached.
type loader func(ctx context.Context, now time.Time) (any, error)

// endpoint reads a request's parameters and returns its cache key (every
// parameter that changes the answer, normalized) and how to compute it.
type endpoint func(h *Handler, rq *request) (key string, load loader, err error)

type route struct {
	segments []string // "{id}" and "{address}" are captured, the rest match case-insensitively
	serve    endpoint
}

var routes = []route{
	{seg("api/pools"), (*Handler).pools},
	{seg("api/pools/{id}"), (*Handler).pool},
	{seg("api/pools/{id}/performance"), (*Handler).performance},
	{seg("api/pools/{id}/miners"), (*Handler).miners},
	{seg("api/pools/{id}/blocks"), blocksOf(false, false)},
	{seg("api/v2/pools/{id}/blocks"), blocksOf(false, true)},
	{seg("api/blocks"), blocksOf(true, false)},
	{seg("api/pools/{id}/payments"), paymentsOf(false)},
	{seg("api/v2/pools/{id}/payments"), paymentsOf(true)},
	{seg("api/pools/{id}/miners/{address}"), (*Handler).miner},
	{seg("api/pools/{id}/miners/{address}/payments"), paymentsOf(false)},
	{seg("api/v2/pools/{id}/miners/{address}/payments"), paymentsOf(true)},
	{seg("api/pools/{id}/miners/{address}/performance"), (*Handler).minerPerformanceRoute},
	{seg("api/pools/{id}/miners/{address}/balancechanges"), balanceChangesOf(false)},
	{seg("api/v2/pools/{id}/miners/{address}/balancechanges"), balanceChangesOf(true)},
	{seg("api/pools/{id}/miners/{address}/earnings/daily"), dailyEarningsOf(false)},
	{seg("api/v2/pools/{id}/miners/{address}/earnings/daily"), dailyEarningsOf(true)},
}

func seg(path string) []string { return strings.Split(path, "/") }

// healthCheckPath is where the web job's Consul check asks.
var healthCheckPath = strings.TrimPrefix(contract.WebHealthPath, "/")

// match finds the route of path's segments and the values it captures.
func match(segments []string) (*route, map[string]string) {
	for i := range routes {
		r := &routes[i]
		if len(r.segments) != len(segments) {
			continue
		}
		vars := map[string]string{}
		ok := true
		for k, s := range r.segments {
			if strings.HasPrefix(s, "{") {
				vars[s] = segments[k]
			} else if !strings.EqualFold(s, segments[k]) {
				ok = false
				break
			}
		}
		if ok {
			return r, vars
		}
	}
	return nil, nil
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Access-Control-Allow-Origin", "*")
	hdr.Set("X-Content-Type-Options", "nosniff")
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodOptions:
		hdr.Set("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
		hdr.Set("Access-Control-Allow-Headers", "*")
		hdr.Set("Access-Control-Max-Age", "86400")
		w.WriteHeader(http.StatusNoContent)
		return
	default:
		hdr.Set("Allow", "GET, HEAD, OPTIONS")
		writeText(w, http.StatusMethodNotAllowed, "method not allowed: the API only reads")
		return
	}

	path := strings.Trim(r.URL.Path, "/")
	if strings.EqualFold(path, healthCheckPath) {
		writeText(w, http.StatusOK, "👍")
		return
	}
	if !h.admit(w, r) {
		return
	}
	rt, vars := match(strings.Split(path, "/"))
	if rt == nil {
		writeText(w, http.StatusNotFound, "no such route")
		return
	}
	rq := &request{}
	if id, ok := vars["{id}"]; ok {
		if rq.coin = h.coins[id]; rq.coin == nil {
			// MiningCore's words; quoted when they could be anything else.
			if !plainID(id) {
				id = quoted(id)
			}
			writeText(w, http.StatusNotFound, "Unknown pool "+id)
			return
		}
	}
	var err error
	if a, ok := vars["{address}"]; ok {
		if rq.address, err = canonicalAddress(a, rq.coin.Network); err != nil {
			writeProblem(w, err)
			return
		}
	}
	if rq.q, err = parseQuery(r.URL.RawQuery); err != nil {
		writeProblem(w, err)
		return
	}
	key, load, err := rt.serve(h, rq)
	if err != nil {
		writeProblem(w, err)
		return
	}
	answer, err := h.answer(r.Context(), key, load)
	if err != nil {
		h.cfg.Logger.Error("api request failed", "path", r.URL.Path, "err", err)
		writeText(w, http.StatusInternalServerError, "the pool's database did not answer; try again later")
		return
	}
	hdr.Set("Content-Type", "application/json; charset=utf-8")
	hdr.Set("Cache-Control", h.cfg.CacheControl())
	w.WriteHeader(answer.status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(answer.body)
	}
}

// answer is key's answer from the cache, or computed by load and
// cached, its value kept beside the JSON the API sends.
func (h *Handler) answer(ctx context.Context, key string, load loader) (cached, error) {
	return h.cache.get(ctx, key, func() (cached, error) {
		// The answer is shared by every caller waiting on it: one
		// client hanging up must not cancel it for the others.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.cfg.QueryTimeout)
		defer cancel()
		v, err := load(ctx, h.cfg.Now())
		if err != nil {
			return cached{}, err
		}
		body, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return cached{}, fmt.Errorf("encode %s: %w", key, err)
		}
		return cached{status: http.StatusOK, body: append(body, '\n'), value: v}, nil
	})
}

// admit takes a token from the client's bucket, or answers 429.
func (h *Handler) admit(w http.ResponseWriter, r *http.Request) bool {
	allowed, wait, addr := h.allow(r)
	if !allowed {
		w.Header().Set("Retry-After", strconv.Itoa(RetryAfterSeconds(wait)))
		writeText(w, http.StatusTooManyRequests, "too many requests from "+addr.String()+"; slow down")
	}
	return allowed
}

// Allow takes a token from the bucket of r's client, shared by the API
// and whatever else serves the same clients (the web pages); when it is
// empty, it says how long until the client may ask again.
func (h *Handler) Allow(r *http.Request) (allowed bool, wait time.Duration) {
	allowed, wait, _ = h.allow(r)
	return allowed, wait
}

func (h *Handler) allow(r *http.Request) (bool, time.Duration, netip.Addr) {
	addr, ok := clientAddr(r, h.cfg.TrustedProxies)
	if !ok {
		// Not a TCP peer (a unix socket, a test): nobody to limit.
		return true, 0, addr
	}
	if addr.IsLoopback() && !h.cfg.LimitLoopback {
		return true, 0, addr
	}
	allowed, wait := h.limiter.allow(addr)
	return allowed, wait, addr
}

func plainID(id string) bool {
	if id == "" || len(id) > maxParamLength {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// canonicalAddress checks that address can be one of the coin's on
// network, checksums included, and spells it as stratum stores it.
func canonicalAddress(address, network string) (string, error) {
	if len(address) > maxAddressLength {
		return "", &ParamError{"address", fmt.Sprintf("%d characters is longer than any address (%d at most)", len(address), maxAddressLength)}
	}
	c, err := chain.CanonicalAddress(address, network)
	if err != nil {
		return "", &ParamError{"address", fmt.Sprintf("%s is not a %s address: %v", quoted(address), network, unwrapAll(err))}
	}
	return c, nil
}

// unwrapAll drops chain's "address %q:" prefix, which quotes the input
// unbounded.
func unwrapAll(err error) error {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err
		}
		err = u
	}
}

func writeText(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

// problem is RFC 9457 problem details, shaped as ASP.NET's validation
// problems that MiningCore answers bad parameters with.
type problem struct {
	Type   string              `json:"type"`
	Title  string              `json:"title"`
	Status int                 `json:"status"`
	Detail string              `json:"detail"`
	Errors map[string][]string `json:"errors"`
}

func writeProblem(w http.ResponseWriter, err error) {
	var bad *ParamError
	if !errors.As(err, &bad) {
		bad = &ParamError{"request", err.Error()}
	}
	body, _ := json.MarshalIndent(problem{
		Type:   "https://tools.ietf.org/html/rfc9110#section-15.5.1",
		Title:  "One or more validation errors occurred.",
		Status: http.StatusBadRequest,
		Detail: bad.Error(),
		Errors: map[string][]string{bad.Name: {bad.Reason}},
	}, "", "  ")
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(http.StatusBadRequest)
	_, _ = w.Write(append(body, '\n'))
}
