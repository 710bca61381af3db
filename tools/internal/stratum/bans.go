package stratum

import (
	"net"
	"net/netip"
	"sync"
	"time"
)

// peerOf is what limits and bans count a connection under: its IPv4
// address, or its IPv6 /64 (one subscriber's network: counted per
// address, a single home would have 2^64 of them). Addresses that are
// not IP (a test's pipe) share the zero prefix.
func peerOf(addr net.Addr) netip.Prefix {
	ap, err := netip.ParseAddrPort(addr.String())
	if err != nil {
		return netip.Prefix{}
	}
	ip := ap.Addr().Unmap()
	if ip.Is4() {
		return netip.PrefixFrom(ip, 32)
	}
	p, _ := ip.WithZone("").Prefix(64)
	return p
}

// peerString is a peer as logs show it: an IPv4 address without "/32".
func peerString(p netip.Prefix) string {
	if p.IsValid() && p.Addr().Is4() && p.Bits() == 32 {
		return p.Addr().String()
	}
	return p.String()
}

// banTable counts the connections of each peer dropped for misbehaviour
// and bans a peer that gets `after` of them within `window`, for
// `duration`. It holds at most max peers, so that misbehaving from many
// addresses cannot make it the memory leak it guards against: expired
// entries are pruned, and when it is full of live ones a peer that is
// only being counted makes room; bans are never pushed out, and a new
// offender is not counted until there is room.
type banTable struct {
	after            int
	window, duration time.Duration
	max              int

	mu       sync.Mutex
	peers    map[netip.Prefix]banRecord
	prunedAt time.Time
}

type banRecord struct {
	drops int
	since time.Time // the first drop counted in this window
	until time.Time // banned until; zero when not banned
}

// expires is when the record stops mattering.
func (r banRecord) expires(window time.Duration) time.Time {
	if !r.until.IsZero() {
		return r.until
	}
	return r.since.Add(window)
}

// newBanTable returns a table; after 0 turns bans off.
func newBanTable(after int, window, duration time.Duration, max int) *banTable {
	return &banTable{after: after, window: window, duration: duration, max: max, peers: map[netip.Prefix]banRecord{}}
}

func (b *banTable) off() bool { return b.after <= 0 || b.duration <= 0 || b.max <= 0 }

// banned reports whether p is banned at now.
func (b *banTable) banned(p netip.Prefix, now time.Time) bool {
	if b.off() {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	r, ok := b.peers[p]
	return ok && now.Before(r.until)
}

// dropped counts a connection of p dropped for misbehaviour, and reports
// whether that started a ban.
func (b *banTable) dropped(p netip.Prefix, now time.Time) bool {
	if b.off() {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	r, ok := b.peers[p]
	if ok && now.Before(r.until) {
		return false // banned already: what it does now is moot
	}
	if !ok && len(b.peers) >= b.max && !b.makeRoom(now) {
		return false
	}
	if !ok || !now.Before(r.expires(b.window)) {
		r = banRecord{since: now}
	}
	r.drops++
	if r.drops < b.after {
		b.peers[p] = r
		return false
	}
	b.peers[p] = banRecord{since: now, until: now.Add(b.duration)}
	return true
}

// makeRoom frees an entry for a new peer: expired ones first (at most a
// scan a second), else a peer only being counted.
func (b *banTable) makeRoom(now time.Time) bool {
	if now.Sub(b.prunedAt) >= time.Second {
		b.pruneLocked(now)
		if len(b.peers) < b.max {
			return true
		}
	}
	for p, r := range b.peers { // map order: a peer picked at random
		if !now.Before(r.expires(b.window)) || r.until.IsZero() {
			delete(b.peers, p)
			return true
		}
	}
	return false
}

// prune forgets what has expired and returns how many peers are banned.
func (b *banTable) prune(now time.Time) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.pruneLocked(now)
}

func (b *banTable) pruneLocked(now time.Time) int {
	b.prunedAt = now
	banned := 0
	for p, r := range b.peers {
		switch {
		case !now.Before(r.expires(b.window)):
			delete(b.peers, p)
		case now.Before(r.until):
			banned++
		}
	}
	return banned
}

func (b *banTable) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.peers)
}
