package poolapi

import (
	"errors"
	"sync"
	"time"
)

// cache keeps rendered answers for a short time and lets concurrent
// misses of one key share one computation: a burst of clients opening
// the front page costs the database one round of queries.
//
// An answer past its time is still served for one more ttl while a
// single computation of the new one runs in the background: the front
// page's queries take seconds on a Pi, and without this every client
// would wait for them at each expiry (bench-web measured p99 go from
// milliseconds to the queries' time).
type cache struct {
	ttl   time.Duration
	limit int
	now   func() time.Time

	mu       sync.Mutex
	entries  map[string]cached
	inflight map[string]*call
}

// cached is an answer: its value, for the read model's callers, and
// the value rendered as the API's status and body.
type cached struct {
	status  int
	body    []byte
	value   any
	expires time.Time
}

type call struct {
	done chan struct{}
	val  cached
	err  error
}

var errAbandoned = errors.New("the answer's computation ended without one")

func newCache(ttl time.Duration, limit int, now func() time.Time) *cache {
	return &cache{ttl: ttl, limit: limit, now: now, entries: map[string]cached{}, inflight: map[string]*call{}}
}

// get returns key's answer, from the cache while it is fresh, else from
// load, run once for every caller waiting on the same key. An answer
// less than one ttl past its time is returned as it is while load runs
// in the background. Errors are not cached. With a negative ttl nothing
// is: every caller loads.
func (c *cache) get(key string, load func() (cached, error)) (cached, error) {
	if c.ttl < 0 {
		return load()
	}
	c.mu.Lock()
	now := c.now()
	e, ok := c.entries[key]
	if ok && now.Before(e.expires) {
		c.mu.Unlock()
		return e, nil
	}
	stale := ok && now.Before(e.expires.Add(c.ttl))
	if cl, ok := c.inflight[key]; ok {
		c.mu.Unlock()
		if stale {
			return e, nil
		}
		<-cl.done
		return cl.val, cl.err
	}
	// Waiters see this error if load panics instead of returning.
	cl := &call{done: make(chan struct{}), err: errAbandoned}
	c.inflight[key] = cl
	c.mu.Unlock()
	if stale {
		go func() {
			defer func() { _ = recover() }() // as a request's panic would end one request
			c.run(key, cl, load)
		}()
		return e, nil
	}
	c.run(key, cl, load)
	return cl.val, cl.err
}

// run computes key's answer for cl's waiters and keeps it.
func (c *cache) run(key string, cl *call, load func() (cached, error)) {
	// A panic in load must not leave waiters blocked forever.
	defer func() {
		c.mu.Lock()
		delete(c.inflight, key)
		c.mu.Unlock()
		close(cl.done)
	}()
	cl.val, cl.err = load()
	if cl.err == nil {
		c.store(key, cl.val)
	}
}

func (c *cache) store(key string, v cached) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if len(c.entries) >= c.limit {
		for k, e := range c.entries {
			if !now.Before(e.expires) {
				delete(c.entries, k)
			}
		}
	}
	if len(c.entries) >= c.limit {
		// Still full of fresh answers: someone is walking the pages.
		// Start over rather than grow.
		clear(c.entries)
	}
	v.expires = now.Add(c.ttl)
	c.entries[key] = v
}
