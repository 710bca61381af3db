package poolapi

import (
	"math"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// limiter is a token bucket per client address. A client that empties
// its bucket is answered 429 before its request reaches a handler.
type limiter struct {
	rate  float64 // tokens per second
	burst float64
	now   func() time.Time

	mu      sync.Mutex
	buckets map[netip.Addr]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// maxBuckets bounds the limiter's memory; buckets that have refilled
// are forgotten first (a full bucket is the same as none).
const maxBuckets = 65536

func newLimiter(rate float64, burst int, now func() time.Time) *limiter {
	return &limiter{rate: rate, burst: float64(burst), now: now, buckets: map[netip.Addr]*bucket{}}
}

// bucketOf is the bucket addr draws from: its own for IPv4, its /64's
// for IPv6, where one subscriber holds a whole /64 and could take a new
// address for each request (stratum counts connections the same way).
func bucketOf(addr netip.Addr) netip.Addr {
	addr = addr.Unmap()
	if addr.Is6() {
		if p, err := addr.Prefix(64); err == nil {
			return p.Addr()
		}
	}
	return addr
}

// allow takes a token for addr, or says how long until one is there.
func (l *limiter) allow(addr netip.Addr) (bool, time.Duration) {
	addr = bucketOf(addr)
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b, ok := l.buckets[addr]
	if !ok {
		if len(l.buckets) >= maxBuckets {
			l.forgetFull(now)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[addr] = b
	}
	if elapsed := now.Sub(b.last).Seconds(); elapsed > 0 {
		b.tokens = math.Min(l.burst, b.tokens+elapsed*l.rate)
	}
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
	return false, wait
}

func (l *limiter) forgetFull(now time.Time) {
	for a, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
			delete(l.buckets, a)
		}
	}
	if len(l.buckets) >= maxBuckets {
		clear(l.buckets) // a flood of addresses: forgetting is cheaper than refusing everyone
	}
}

// RetryAfterSeconds is the Retry-After header's whole seconds, at least 1.
func RetryAfterSeconds(wait time.Duration) int {
	return max(1, int(math.Ceil(wait.Seconds())))
}

// clientAddr is the address the request came from: RemoteAddr, or the
// last X-Forwarded-For hop when RemoteAddr is a trusted proxy (the hop
// the proxy itself added; earlier ones are the client's to invent).
func clientAddr(r *http.Request, trusted []netip.Prefix) (netip.Addr, bool) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	addr = addr.Unmap()
	for _, p := range trusted {
		if !p.Contains(addr) {
			continue
		}
		hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
		if last := strings.TrimSpace(hops[len(hops)-1]); last != "" {
			if fwd, err := netip.ParseAddr(last); err == nil {
				return fwd.Unmap(), true
			}
		}
		break
	}
	return addr, true
}
