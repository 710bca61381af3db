package stratum

import (
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// hashesPerDifficulty is how many scrypt hashes one share of difficulty 1
// takes on average: 2^256 / (0xffff << 224), about 2^16.
const hashesPerDifficulty = 65536.0

// hashrateWindow is how far back the hashrate estimate looks.
const hashrateWindow = 5 * time.Minute

// Metrics are the server's Prometheus figures.
type Metrics struct {
	connections      prometheus.Gauge
	refused          *prometheus.CounterVec
	bans             prometheus.Counter
	banned           prometheus.Gauge
	dropped          *prometheus.CounterVec
	badMessages      prometheus.Counter
	authorizeRefused *prometheus.CounterVec
	accepted         prometheus.Counter
	rejected         *prometheus.CounterVec
	blocks           *prometheus.CounterVec
	hashrate         *prometheus.GaugeVec
	poolRate         prometheus.Gauge
	wallet           *prometheus.GaugeVec
	switches         prometheus.Counter
	jobs             *prometheus.CounterVec

	mu sync.Mutex
	// series is the hashrate of each payout address with a series of
	// its own, and of otherSeries.
	series map[string]*rateWindow
}

// maxHashrateSeries bounds the hashrate series, "other" included: payout
// addresses cost a miner nothing to make, and every series costs memory
// here and in Prometheus for as long as it lives. A home pool has a
// handful of addresses; past the bound, new ones count under "other"
// until a series goes quiet for the whole window and frees its place.
const maxHashrateSeries = 100

const otherSeries = "other"

// NewMetrics registers the figures with reg (none when nil, for tests
// that run several servers).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		connections: prometheus.NewGauge(prometheus.GaugeOpts{Name: "stratum_connections", Help: "Miners connected now."}),
		refused:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "stratum_connections_refused_total", Help: "Connections refused at accept, by reason."}, []string{"reason"}),
		bans:        prometheus.NewCounter(prometheus.CounterOpts{Name: "stratum_bans_total", Help: "Peers banned for misbehaviour (their connections dropped too often)."}),
		banned:      prometheus.NewGauge(prometheus.GaugeOpts{Name: "stratum_banned_peers", Help: "Peers (IPv4 addresses, IPv6 /64s) banned now."}),
		dropped:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "stratum_connections_dropped_total", Help: "Connections the server ended, by reason."}, []string{"reason"}),
		badMessages: prometheus.NewCounter(prometheus.CounterOpts{Name: "stratum_bad_messages_total", Help: "Messages refused as malformed, unknown or not allowed."}),
		authorizeRefused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "stratum_authorizations_refused_total", Help: "mining.authorize refused, by reason " +
			"(not a payout address, name too long, name not printable, too many workers)."}, []string{"reason"}),
		accepted: prometheus.NewCounter(prometheus.CounterOpts{Name: "stratum_shares_accepted_total", Help: "Shares accepted."}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "stratum_shares_rejected_total", Help: "Shares rejected, by reason."}, []string{"reason"}),
		blocks:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "stratum_blocks_total", Help: "Block candidates found, by outcome (accepted; inconclusive: kept off the best chain as the tip moved; rejected; invalid)."}, []string{"result"}),
		hashrate: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "stratum_address_hashrate", Help: "Estimated hashes per second of each payout address over the last 5 minutes; " +
			fmt.Sprintf("past the first %d addresses, the rest together as %q.", maxHashrateSeries-1, otherSeries)}, []string{"address"}),
		poolRate: prometheus.NewGauge(prometheus.GaugeOpts{Name: "stratum_pool_hashrate", Help: "Estimated hashes per second of all workers over the last 5 minutes."}),
		wallet:   prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "stratum_current_wallet", Help: "1 for the wallet work comes from now."}, []string{"wallet"}),
		switches: prometheus.NewCounter(prometheus.CounterOpts{Name: "stratum_wallet_switches_total", Help: "Times the server moved to another wallet."}),
		jobs:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "stratum_jobs_total", Help: "Jobs sent to miners, by cause (block, refresh, switch)."}, []string{"cause"}),
		series:   map[string]*rateWindow{},
	}
	if reg != nil {
		reg.MustRegister(m.connections, m.refused, m.bans, m.banned, m.dropped, m.badMessages, m.authorizeRefused, m.accepted, m.rejected,
			m.blocks, m.hashrate, m.poolRate, m.wallet, m.switches, m.jobs)
	}
	return m
}

// rateWindow sums share difficulty in 30-second buckets.
type rateWindow struct {
	buckets [10]float64
	stamps  [10]int64
}

const bucketSeconds = int64(hashrateWindow / time.Second / 10)

func (r *rateWindow) add(d float64, now time.Time) {
	slot := now.Unix() / bucketSeconds
	i := slot % int64(len(r.buckets))
	if r.stamps[i] != slot {
		r.stamps[i], r.buckets[i] = slot, 0
	}
	r.buckets[i] += d
}

func (r *rateWindow) rate(now time.Time) float64 {
	slot := now.Unix() / bucketSeconds
	var sum float64
	for i := range r.buckets {
		if slot-r.stamps[i] < int64(len(r.buckets)) {
			sum += r.buckets[i]
		}
	}
	return sum * hashesPerDifficulty / hashrateWindow.Seconds()
}

// shareDone counts an accepted share towards its payout address's
// hashrate. Worker names are never labels: a miner picks as many as it
// likes.
func (m *Metrics) shareDone(address string, difficulty float64, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	w, ok := m.series[address]
	if !ok {
		if len(m.series) >= maxHashrateSeries-1 {
			address = otherSeries
		}
		if w, ok = m.series[address]; !ok {
			w = &rateWindow{}
			m.series[address] = w
		}
	}
	w.add(difficulty, now)
}

// updateHashrates refreshes the hashrate gauges and forgets addresses
// that sent nothing for the whole window.
func (m *Metrics) updateHashrates(now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var pool float64
	for address, w := range m.series {
		r := w.rate(now)
		if r == 0 {
			delete(m.series, address)
			m.hashrate.DeleteLabelValues(address)
			continue
		}
		m.hashrate.WithLabelValues(address).Set(r)
		pool += r
	}
	m.poolRate.Set(pool)
}

// WalletSwitched records that work now comes from wallet.
func (m *Metrics) WalletSwitched(from, to string) {
	if from != "" {
		m.wallet.DeleteLabelValues(from)
		m.switches.Inc()
	}
	m.wallet.WithLabelValues(to).Set(1)
}

// JobSent counts a published job by its cause.
func (m *Metrics) JobSent(cause string) { m.jobs.WithLabelValues(cause).Inc() }
