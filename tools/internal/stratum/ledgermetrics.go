package stratum

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/scryptpool/poolmicrocloud/tools/internal/ledger"
)

// writerCollector exposes the share writer's figures: a growing buffer is
// the first sign of a database in trouble.
type writerCollector struct{ w *ledger.Writer }

var (
	bufferedDesc = prometheus.NewDesc("stratum_ledger_buffered_shares", "Accepted shares not yet in the database.", nil, nil)
	writtenDesc  = prometheus.NewDesc("stratum_ledger_written_shares_total", "Shares written to the database.", nil, nil)
	refusedDesc  = prometheus.NewDesc("stratum_ledger_refused_shares_total", "Shares refused because the buffer was full.", nil, nil)
	failedDesc   = prometheus.NewDesc("stratum_ledger_failed_writes_total", "Database writes that failed and were retried.", nil, nil)
	blocksDesc   = prometheus.NewDesc("stratum_ledger_pending_blocks", "Found blocks not yet in the database.", nil, nil)
)

func (c writerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{bufferedDesc, writtenDesc, refusedDesc, failedDesc, blocksDesc} {
		ch <- d
	}
}

func (c writerCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.w.Stats()
	ch <- prometheus.MustNewConstMetric(bufferedDesc, prometheus.GaugeValue, float64(s.Buffered))
	ch <- prometheus.MustNewConstMetric(writtenDesc, prometheus.CounterValue, float64(s.Written))
	ch <- prometheus.MustNewConstMetric(refusedDesc, prometheus.CounterValue, float64(s.Rejected))
	ch <- prometheus.MustNewConstMetric(failedDesc, prometheus.CounterValue, float64(s.FailedAttempts))
	ch <- prometheus.MustNewConstMetric(blocksDesc, prometheus.GaugeValue, float64(s.BlocksPending))
}
