package stratum

import (
	"bufio"
	"encoding/json"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPeerOf(t *testing.T) {
	cases := []struct {
		addr net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 4000}, "192.0.2.7"},
		{&net.TCPAddr{IP: net.ParseIP("::ffff:192.0.2.7"), Port: 4000}, "192.0.2.7"},
		// One IPv6 subscriber holds a /64 at least: per address, it
		// would have 2^64 of them.
		{&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:3:4:5:6"), Port: 4000}, "2001:db8:1:2::/64"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:ffff::1"), Port: 4000}, "2001:db8:1:2::/64"},
		{&net.UnixAddr{Name: "/run/x.sock", Net: "unix"}, "invalid Prefix"},
	}
	for _, tc := range cases {
		t.Run(tc.addr.String(), func(t *testing.T) {
			assert.Equal(t, tc.want, peerString(peerOf(tc.addr)))
		})
	}
}

// The ban table's rule, step by step against a clock of its own: drops
// within the window add up to a ban; a ban ends; drops spread wider than
// the window never ban.
func TestBanTable(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	a := netip.MustParsePrefix("192.0.2.1/32")
	b := netip.MustParsePrefix("192.0.2.2/32")
	type step struct {
		at     time.Duration
		drop   netip.Prefix // a drop of this peer, or a look only
		bans   bool         // the drop starts a ban
		banned []netip.Prefix
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"three drops within the window ban for the duration", []step{
			{at: 0, drop: a},
			{at: time.Minute, drop: a},
			{at: 2 * time.Minute, drop: b},
			{at: 9 * time.Minute, drop: a, bans: true, banned: []netip.Prefix{a}},
			{at: 18 * time.Minute, banned: []netip.Prefix{a}},
			{at: 19 * time.Minute},
		}},
		{"drops spread wider than the window never ban", []step{
			{at: 0, drop: a},
			{at: 6 * time.Minute, drop: a},
			{at: 11 * time.Minute, drop: a},
			{at: 17 * time.Minute, drop: a},
			{at: 22 * time.Minute, drop: a},
		}},
		{"drops while banned do not lengthen the ban; after it, counting starts again", []step{
			{at: 0, drop: a},
			{at: 0, drop: a},
			{at: 0, drop: a, bans: true, banned: []netip.Prefix{a}},
			{at: 5 * time.Minute, drop: a, banned: []netip.Prefix{a}},
			{at: 10 * time.Minute, drop: a},
			{at: 11 * time.Minute, drop: a},
			{at: 12 * time.Minute, drop: a, bans: true, banned: []netip.Prefix{a}},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bt := newBanTable(3, 10*time.Minute, 10*time.Minute, 100)
			for i, s := range tc.steps {
				now := start.Add(s.at)
				if s.drop.IsValid() {
					assert.Equal(t, s.bans, bt.dropped(s.drop, now), "step %d: drop starts a ban", i)
				}
				for _, p := range []netip.Prefix{a, b} {
					assert.Equal(t, contains(s.banned, p), bt.banned(p, now), "step %d: %s banned", i, p)
				}
			}
		})
	}
}

func contains(list []netip.Prefix, p netip.Prefix) bool {
	for _, q := range list {
		if q == p {
			return true
		}
	}
	return false
}

// The table cannot be the memory leak it guards against: peers that
// misbehave from a million addresses leave at most MaxBanEntries
// entries; expired ones are pruned; when full of live entries a new
// offender pushes out one that is not banned before any ban.
func TestBanTableIsBounded(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	bt := newBanTable(3, 10*time.Minute, time.Hour, 1000)
	banned := netip.MustParsePrefix("198.51.100.1/32")
	for i := 0; i < 3; i++ {
		bt.dropped(banned, start)
	}
	require.True(t, bt.banned(banned, start))
	for i := 0; i < 1_000_000; i++ {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 32)
		bt.dropped(p, start.Add(time.Duration(i)*time.Millisecond))
		if bt.len() > 1000 {
			t.Fatalf("after %d peers the table holds %d entries", i+1, bt.len())
		}
	}
	assert.True(t, bt.banned(banned, start.Add(20*time.Minute)), "offenders that were only counted did not push out a ban")
	bt.prune(start.Add(2 * time.Hour))
	assert.Zero(t, bt.len(), "everything expired is pruned")
	assert.False(t, bt.banned(banned, start.Add(2*time.Hour)))
}

// A table full of bans counts no new offender rather than push a ban out.
func TestFullBanTableKeepsItsBans(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	bt := newBanTable(1, 10*time.Minute, time.Hour, 2)
	a, b, c := netip.MustParsePrefix("192.0.2.1/32"), netip.MustParsePrefix("192.0.2.2/32"), netip.MustParsePrefix("192.0.2.3/32")
	require.True(t, bt.dropped(a, now))
	require.True(t, bt.dropped(b, now))
	assert.False(t, bt.dropped(c, now.Add(time.Minute)))
	assert.False(t, bt.banned(c, now.Add(time.Minute)))
	assert.True(t, bt.banned(a, now.Add(time.Minute)))
	assert.True(t, bt.banned(b, now.Add(time.Minute)))
	assert.Equal(t, 2, bt.len())
}

// Bans off: no table, nobody banned.
func TestBansOff(t *testing.T) {
	bt := newBanTable(0, 10*time.Minute, 10*time.Minute, 100)
	p := netip.MustParsePrefix("192.0.2.1/32")
	now := time.Unix(1_700_000_000, 0)
	for i := 0; i < 10; i++ {
		assert.False(t, bt.dropped(p, now))
	}
	assert.False(t, bt.banned(p, now))
	assert.Zero(t, bt.len())
}

// dialFrom connects to addr from a given loopback address: Linux answers
// for all of 127.0.0.0/8, so tests can be several peers.
func dialFrom(t *testing.T, from, addr string) *client {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	conn, err := d.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return &client{t: t, conn: conn, r: bufio.NewReader(conn)}
}

// A peer whose connections are dropped for misbehaviour BanAfterDrops
// times is banned: its new connections are closed at accept without a
// word, and counted. Its miners already connected keep mining, and other
// peers are not concerned.
func TestMisbehavingPeerIsBanned(t *testing.T) {
	cfg := testConfig()
	cfg.BanAfterDrops, cfg.BanWindow, cfg.BanDuration = 3, 10*time.Minute, 10*time.Minute
	cfg.MaxBadMessages = 2
	h := startServer(t, cfg)
	j := h.srv.Publish(work(t, tipA, hardBits), "w1", true)
	good, en1 := subscribed(t, h, regtestAddress)

	offences := []func(c *client){
		func(c *client) { // garbage past the allowance
			for i := 0; i < 3; i++ {
				c.send("garbage")
			}
		},
		func(c *client) { // a line past the limit
			_, _ = c.conn.Write([]byte(strings.Repeat("x", 2*MaxLineBytes)))
		},
		func(c *client) { // shares below the difficulty past the allowance
			en1 := extranonce1Of(t, c.call("mining.subscribe"))
			c.call("mining.authorize", regtestAddress, "x")
			for i := uint32(0); i < 3; i++ {
				b, err := json.Marshal(map[string]any{"id": 100 + i, "method": "mining.submit", "params": withWorker(lowShare(t, j, en1, 500+i, 0.001), regtestAddress)})
				require.NoError(t, err)
				c.send(string(b))
			}
		},
	}
	for i, offend := range offences {
		c := dialFrom(t, "127.0.0.1", h.addr)
		offend(c)
		require.True(t, c.closed(), "offence %d ends its connection", i)
	}
	assert.Equal(t, map[string]float64{"too many bad messages": 2, "line too long": 1}, counts(t, h.srv.metrics.dropped))

	banned := dialFrom(t, "127.0.0.1", h.addr)
	_, _ = banned.conn.Write([]byte(`{"id":1,"method":"mining.subscribe"}` + "\n"))
	m, err := banned.read()
	require.Error(t, err, "a banned peer's connection is closed, not answered: %v", m)
	assert.NotContains(t, err.Error(), "timeout")
	assert.Equal(t, map[string]float64{"banned": 1}, counts(t, h.srv.metrics.refused))
	assert.Equal(t, 1.0, counterValue(t, h.srv.metrics.bans))

	res := good.call("mining.submit", withWorker(solve(t, j, en1, 1, 0.001), regtestAddress)...)
	assert.Equal(t, true, res["result"], "a miner of the banned peer connected before the ban: %v", res["error"])
	other, _ := subscribedFrom(t, h, "127.0.0.2", regtestAddress)
	assert.Equal(t, true, other.call("mining.extranonce.subscribe")["result"], "another peer")
}

func extranonce1Of(t *testing.T, subscribeAnswer map[string]any) string {
	t.Helper()
	parts, ok := subscribeAnswer["result"].([]any)
	require.True(t, ok && len(parts) == 3, "subscribe answered %v", subscribeAnswer)
	return parts[1].(string)
}

func subscribedFrom(t *testing.T, h *harness, from, worker string) (*client, string) {
	t.Helper()
	c := dialFrom(t, from, h.addr)
	en1 := extranonce1Of(t, c.call("mining.subscribe"))
	auth := c.call("mining.authorize", worker, "x")
	require.Equal(t, true, auth["result"], "authorize %s: %v", worker, auth["error"])
	return c, en1
}

func counterValue(t testing.TB, c prometheus.Counter) float64 {
	t.Helper()
	return gathered(t, c)[0].GetCounter().GetValue()
}

// One address gets MaxConnectionsPerIP connections by default, enough
// for the rigs of a few homes behind one router, and no more: thousands
// of connections from one address once took what all miners share.
func TestConnectionsPerPeerAreLimitedByDefault(t *testing.T) {
	cfg := testConfig()
	require.Equal(t, 32, cfg.MaxConnectionsPerIP, "the default")
	h := startServer(t, cfg)
	for i := 0; i < cfg.MaxConnectionsPerIP; i++ {
		c := dialFrom(t, "127.0.0.1", h.addr)
		require.Nil(t, c.call("mining.subscribe")["error"], "connection %d", i+1)
	}
	over := dialFrom(t, "127.0.0.1", h.addr)
	_, _ = over.conn.Write([]byte(`{"id":1,"method":"mining.subscribe"}` + "\n"))
	m, err := over.read()
	require.Error(t, err, "connection %d from one address is closed, not answered: %v", cfg.MaxConnectionsPerIP+1, m)
	assert.NotContains(t, err.Error(), "timeout")
	assert.Equal(t, map[string]float64{"too many connections from one address": 1}, counts(t, h.srv.metrics.refused))

	other := dialFrom(t, "127.0.0.2", h.addr)
	assert.Nil(t, other.call("mining.subscribe")["error"], "another address")
	assert.Equal(t, cfg.MaxConnectionsPerIP+1, h.srv.Connections())
}
