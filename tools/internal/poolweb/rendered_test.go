package poolweb

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// Drawn pages are kept for the ttl, bounded in number and bytes, and
// not at all when the cache is off.
func TestRenderedPages(t *testing.T) {
	clock := now
	c := newRendered(15*time.Second, 3, func() time.Time { return clock })
	c.put("a", []byte("page a"))
	got, ok := c.get("a")
	assert.True(t, ok)
	assert.Equal(t, "page a", string(got))
	_, ok = c.get("b")
	assert.False(t, ok, "never drawn")

	clock = clock.Add(15 * time.Second)
	_, ok = c.get("a")
	assert.False(t, ok, "expired with the figures")

	c.put("a", []byte("1"))
	c.put("b", []byte("2"))
	c.put("c", []byte("3"))
	c.put("d", []byte("4"))
	assert.LessOrEqual(t, len(c.pages), 3, "bounded in number")
	_, ok = c.get("d")
	assert.True(t, ok, "the newest is kept")

	c.maxBytes = 10
	c.put("big", []byte(strings.Repeat("x", 11)))
	_, ok = c.get("big")
	assert.False(t, ok, "larger than the whole budget: not kept")
	c.put("e", []byte(strings.Repeat("y", 9)))
	assert.LessOrEqual(t, c.bytes, 10, "bounded in bytes")
	_, ok = c.get("e")
	assert.True(t, ok)

	off := newRendered(-1, 3, time.Now)
	off.put("a", []byte("page a"))
	_, ok = off.get("a")
	assert.False(t, ok, "no cache: drawn every time")
}
