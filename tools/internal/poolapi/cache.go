package poolapi

import (
	"context"
	"errors"
	"sort"
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
	ttl        time.Duration
	limit, max int // entries, bytes
	now        func() time.Time

	mu       sync.Mutex
	entries  map[string]cached
	bytes    int
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

func newCache(ttl time.Duration, limit, maxBytes int, now func() time.Time) *cache {
	return &cache{ttl: ttl, limit: limit, max: maxBytes, now: now, entries: map[string]cached{}, inflight: map[string]*call{}}
}

// size is what an answer costs the cache: its body, its value (about as
// large) and its key.
func size(key string, v cached) int { return 2*len(v.body) + len(key) + 64 }

// get returns key's answer, from the cache while it is fresh, else from
// load, run once for every caller waiting on the same key. An answer
// less than one ttl past its time is returned as it is while load runs
// in the background. Errors are not cached. With a negative ttl nothing
// is: every caller loads. A caller whose ctx ends stops waiting with
// ctx's error; the computation goes on for the others and the cache.
func (c *cache) get(ctx context.Context, key string, load func() (cached, error)) (cached, error) {
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
		return cl.wait(ctx)
	}
	// Waiters see this error if load panics instead of returning.
	cl := &call{done: make(chan struct{}), err: errAbandoned}
	c.inflight[key] = cl
	c.mu.Unlock()
	go func() {
		defer func() { _ = recover() }() // as a request's panic would end one request
		c.run(key, cl, load)
	}()
	if stale {
		return e, nil
	}
	return cl.wait(ctx)
}

// wait is the call's answer, or ctx's error if ctx ends first.
func (cl *call) wait(ctx context.Context) (cached, error) {
	select {
	case <-cl.done:
		return cl.val, cl.err
	case <-ctx.Done():
		return cached{}, ctx.Err()
	}
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
	if old, ok := c.entries[key]; ok {
		c.bytes -= size(key, old)
		delete(c.entries, key)
	}
	need := size(key, v)
	if len(c.entries) >= c.limit || c.bytes+need > c.max {
		// Answers past being served stale go first; then, while still
		// too many or too large (someone walking the pages), those due
		// first: an answer asked for all the time, as the front page's,
		// is renewed all the time and is among the last to go.
		for k, e := range c.entries {
			if !now.Before(e.expires.Add(c.ttl)) {
				c.bytes -= size(k, e)
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= c.limit || c.bytes+need > c.max {
			keys := make([]string, 0, len(c.entries))
			for k := range c.entries {
				keys = append(keys, k)
			}
			sort.Slice(keys, func(i, j int) bool { return c.entries[keys[i]].expires.Before(c.entries[keys[j]].expires) })
			for _, k := range keys {
				if len(c.entries) < c.limit && c.bytes+need <= c.max {
					break
				}
				c.bytes -= size(k, c.entries[k])
				delete(c.entries, k)
			}
		}
	}
	if need > c.max {
		return // one answer larger than the whole cache: not kept
	}
	v.expires = now.Add(c.ttl)
	c.entries[key] = v
	c.bytes += need
}
