package stratum

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
)

// gauges reads a gauge vector: its value for each label value.
func gauges(t testing.TB, vec *prometheus.GaugeVec) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, m := range gathered(t, vec) {
		out[m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
	}
	return out
}

// Names a miner picks must not become Prometheus series: each costs the
// server and the Prometheus server memory for as long as it lives.
// Hashrate is by payout address, at most maxHashrateSeries series, the
// rest folded into "other"; the pool's figure still counts everyone.
func TestHashrateSeriesAreBounded(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	cases := []struct {
		name    string
		address func(i int) string
		want    int
	}{
		{"10,000 worker names of one address", func(i int) string { return regtestAddress }, 1},
		{"10,000 addresses", func(i int) string { return fmt.Sprintf("address-%d", i) }, maxHashrateSeries},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMetrics(nil)
			for i := 0; i < 10_000; i++ {
				m.shareDone(tc.address(i), 1, now)
			}
			m.updateHashrates(now)
			series := gauges(t, m.hashrate)
			assert.Equal(t, tc.want, len(series), "hashrate series")
			var sum float64
			for _, v := range series {
				sum += v
			}
			pool := 10_000 * hashesPerDifficulty / hashrateWindow.Seconds()
			assert.InDelta(t, pool, sum, 1e-6, "every share is in some series")
			assert.InDelta(t, pool, gaugeValue(t, m.poolRate), 1e-6)

			// Quiet for the whole window: every series goes.
			m.updateHashrates(now.Add(2 * hashrateWindow))
			assert.Empty(t, gauges(t, m.hashrate))
		})
	}
}

func gaugeValue(t testing.TB, g prometheus.Gauge) float64 {
	t.Helper()
	return gathered(t, g)[0].GetGauge().GetValue()
}
