package poolweb

import (
	"sync"
	"time"
)

// rendered keeps the pages as sent for as long as the figures on them
// are cached: drawing the front page (its charts, its tables, every
// value escaped) costs a Pi's core far more than sending it, and would
// cap the pages' rate well under the API's.
//
// A page is keyed by everything of the request it is drawn from: the
// host (the start page names it), the path and the query. Only pages
// answered 200 are kept; error pages are drawn each time, as they
// should be rare. The pages kept are bounded in number and in bytes, so
// that a client walking through every list page and miner cannot fill
// a Pi's memory.
type rendered struct {
	ttl      time.Duration
	limit    int
	maxBytes int
	now      func() time.Time

	mu    sync.Mutex
	pages map[string]renderedPage
	bytes int
}

// renderedBytes bounds the bytes of the pages kept: a few hundred pages.
const renderedBytes = 8 << 20

type renderedPage struct {
	body    []byte
	expires time.Time
}

// newRendered keeps pages for ttl, at most limit of them; a ttl of zero
// or less keeps none.
func newRendered(ttl time.Duration, limit int, now func() time.Time) *rendered {
	return &rendered{ttl: ttl, limit: limit, maxBytes: renderedBytes, now: now, pages: map[string]renderedPage{}}
}

func (c *rendered) get(key string) ([]byte, bool) {
	if c.ttl <= 0 {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	pg, ok := c.pages[key]
	if !ok || !c.now().Before(pg.expires) {
		return nil, false
	}
	return pg.body, true
}

func (c *rendered) put(key string, body []byte) {
	if c.ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(body) > c.maxBytes {
		return
	}
	now := c.now()
	full := func() bool { return len(c.pages) >= c.limit || c.bytes+len(body) > c.maxBytes }
	if full() {
		for k, pg := range c.pages {
			if !now.Before(pg.expires) {
				c.drop(k)
			}
		}
	}
	if full() {
		// Full of fresh pages: someone walks through every page of
		// the lists. Start over rather than grow.
		clear(c.pages)
		c.bytes = 0
	}
	c.drop(key)
	c.pages[key] = renderedPage{body: body, expires: now.Add(c.ttl)}
	c.bytes += len(body)
}

func (c *rendered) drop(key string) {
	if pg, ok := c.pages[key]; ok {
		c.bytes -= len(pg.body)
		delete(c.pages, key)
	}
}

func renderedKey(host, requestURI string) string { return host + " " + requestURI }
