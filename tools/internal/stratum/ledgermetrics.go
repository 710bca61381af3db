package stratum

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/scryptpool/poolmicrocloud/tools/internal/journal"
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

// journalCollector exposes the share journal: appends per sync is how
// well fsyncs are shared; bytes that keep growing mean the database has
// not taken the shares for a while.
type journalCollector struct{ j *journal.Journal }

var (
	journalAppendsDesc = prometheus.NewDesc("stratum_share_journal_appends_total", "Shares and blocks made durable in the local journal before they were answered.", nil, nil)
	journalSyncsDesc   = prometheus.NewDesc("stratum_share_journal_syncs_total", "fdatasync calls of the share journal; each covers every append queued behind the one before.", nil, nil)
	journalBytesDesc   = prometheus.NewDesc("stratum_share_journal_bytes", "Size of the share journal: records the database may not hold yet.", nil, nil)
)

func (c journalCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{journalAppendsDesc, journalSyncsDesc, journalBytesDesc} {
		ch <- d
	}
}

func (c journalCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.j.Stats()
	ch <- prometheus.MustNewConstMetric(journalAppendsDesc, prometheus.CounterValue, float64(s.Appended))
	ch <- prometheus.MustNewConstMetric(journalSyncsDesc, prometheus.CounterValue, float64(s.Syncs))
	ch <- prometheus.MustNewConstMetric(journalBytesDesc, prometheus.GaugeValue, float64(s.Bytes))
}
