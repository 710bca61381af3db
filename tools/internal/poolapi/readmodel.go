package poolapi

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Store is the API's read model for Go callers (the web pages): the
// answers of the API's routes as values, from the same queries through
// the same cache, so that a page and an API call asking the same thing
// cost the database one computation. Arguments are checked as the
// routes check them: a *ParamError says what is wrong with one,
// ErrUnknownPool that a pool id is not one of Config's coins. Values
// are shared with every caller of the same answer until it expires:
// read them, never modify them.
type Store struct{ h *Handler }

// ErrUnknownPool is a pool id that is not one of the configured coins.
var ErrUnknownPool = errors.New("unknown pool")

// Store is h's read model.
func (h *Handler) Store() *Store { return &Store{h} }

// Config is the handler's configuration, defaults filled in.
func (s *Store) Config() Config { return s.h.cfg }

// CanonicalAddress checks that address can be one of the pool's coin,
// as the API's miner routes do, and spells it as stratum stores it.
func (s *Store) CanonicalAddress(poolID, address string) (string, error) {
	c, err := s.coin(poolID)
	if err != nil {
		return "", err
	}
	return canonicalAddress(address, c.Network)
}

// Paging is a page of a list: Page from 0, Size rows.
type Paging struct{ Page, Size int64 }

// Paging reads page and pageSize from a URL's raw query as the API's
// paged routes do (names case-insensitive, bounds included).
func (s *Store) Paging(rawQuery string) (Paging, error) {
	q, err := parseQuery(rawQuery)
	if err != nil {
		return Paging{}, err
	}
	p, err := q.paging(s.h.cfg.MaxPageSize)
	return Paging{p.page, p.size}, err
}

func (p Paging) query() query {
	return query{"page": {strconv.FormatInt(p.Page, 10)}, "pagesize": {strconv.FormatInt(p.Size, 10)}}
}

// Pool is GET /api/pools/{id}'s pool (top miners over 24 hours).
func (s *Store) Pool(ctx context.Context, poolID string) (PoolInfo, error) {
	v, err := s.get(ctx, (*Handler).pool, poolID, "", query{})
	if err != nil {
		return PoolInfo{}, err
	}
	return v.(poolResponse).Pool, nil
}

// PoolPerformance is GET /api/pools/{id}/performance?r=rng&i=interval:
// rng Day or Month, interval Hour or Day.
func (s *Store) PoolPerformance(ctx context.Context, poolID, rng, interval string) ([]AggregatedPoolStats, error) {
	v, err := s.get(ctx, (*Handler).performance, poolID, "", query{"r": {rng}, "i": {interval}})
	if err != nil {
		return nil, err
	}
	return v.(poolPerformanceResponse).Stats, nil
}

// Blocks is GET /api/v2/pools/{id}/blocks: a page of the pool's blocks
// of every status, newest first, and how many pages there are.
func (s *Store) Blocks(ctx context.Context, poolID string, p Paging) ([]Block, int64, error) {
	v, err := s.get(ctx, blocksOf(false, true), poolID, "", p.query())
	if err != nil {
		return nil, 0, err
	}
	r := v.(pagedResult)
	return r.Result.([]Block), r.PageCount, nil
}

// Payments is GET /api/v2/pools/{id}/payments, or a miner's
// (/miners/{address}/payments) when address is not "".
func (s *Store) Payments(ctx context.Context, poolID, address string, p Paging) ([]Payment, int64, error) {
	v, err := s.get(ctx, paymentsOf(true), poolID, address, p.query())
	if err != nil {
		return nil, 0, err
	}
	r := v.(pagedResult)
	return r.Result.([]Payment), r.PageCount, nil
}

// Miner is GET /api/pools/{id}/miners/{address}: balances, workers now,
// and the last 24 hours in hourly samples.
func (s *Store) Miner(ctx context.Context, poolID, address string) (MinerStats, error) {
	v, err := s.get(ctx, (*Handler).miner, poolID, address, query{})
	if err != nil {
		return MinerStats{}, err
	}
	return v.(MinerStats), nil
}

// MinerKnown says whether the pool has seen address: it sent a share
// (stratum records its workers) or it has a balance. The API answers
// zeros for an address it never saw, as MiningCore; a page can say so.
func (s *Store) MinerKnown(ctx context.Context, poolID, address string) (bool, error) {
	v, err := s.get(ctx, minerKnown, poolID, address, query{})
	if err != nil {
		return false, err
	}
	return v.(bool), nil
}

// WorkerSeen is one of a miner's workers as stratum recorded it.
type WorkerSeen struct {
	Name      string // "" for the unnamed worker
	FirstSeen time.Time
	LastSeen  time.Time // its last share
}

// maxWorkersSeen bounds the workers listed for one address.
const maxWorkersSeen = 100

// Workers are a miner's workers, the most recently seen first (at most
// 100).
func (s *Store) Workers(ctx context.Context, poolID, address string) ([]WorkerSeen, error) {
	v, err := s.get(ctx, workersSeen, poolID, address, query{})
	if err != nil {
		return nil, err
	}
	return v.([]WorkerSeen), nil
}

// get routes a call as ServeHTTP routes a request, without HTTP.
func (s *Store) get(ctx context.Context, serve endpoint, poolID, address string, q query) (any, error) {
	rq := &request{q: q}
	var err error
	if rq.coin, err = s.coin(poolID); err != nil {
		return nil, err
	}
	if address != "" {
		if rq.address, err = canonicalAddress(address, rq.coin.Network); err != nil {
			return nil, err
		}
	}
	key, load, err := serve(s.h, rq)
	if err != nil {
		return nil, err
	}
	a, err := s.h.answer(ctx, key, load)
	if err != nil {
		return nil, err
	}
	return a.value, nil
}

func (s *Store) coin(id string) (*Coin, error) {
	c := s.h.coins[id]
	if c == nil {
		return nil, fmt.Errorf("%w %s", ErrUnknownPool, quoted(id))
	}
	return c, nil
}

func minerKnown(h *Handler, rq *request) (string, loader, error) {
	key := fmt.Sprintf("known %s %s", rq.coin.ID, rq.address)
	return key, func(ctx context.Context, _ time.Time) (any, error) {
		var known bool
		if err := h.db.QueryRow(ctx, sqlMinerKnown, rq.coin.ID, rq.address).Scan(&known); err != nil {
			return nil, fmt.Errorf("pool %s miner known: %w", rq.coin.ID, err)
		}
		return known, nil
	}, nil
}

func workersSeen(h *Handler, rq *request) (string, loader, error) {
	key := fmt.Sprintf("workers seen %s %s", rq.coin.ID, rq.address)
	return key, func(ctx context.Context, _ time.Time) (any, error) {
		rows, err := h.db.Query(ctx, sqlWorkersSeen, rq.coin.ID, rq.address, maxWorkersSeen)
		if err != nil {
			return nil, fmt.Errorf("pool %s workers: %w", rq.coin.ID, err)
		}
		out := []WorkerSeen{}
		for rows.Next() {
			var w WorkerSeen
			if err := rows.Scan(&w.Name, &w.FirstSeen, &w.LastSeen); err != nil {
				return nil, fmt.Errorf("pool %s workers: %w", rq.coin.ID, err)
			}
			w.FirstSeen, w.LastSeen = w.FirstSeen.UTC(), w.LastSeen.UTC()
			out = append(out, w)
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("pool %s workers: %w", rq.coin.ID, err)
		}
		return out, nil
	}, nil
}
