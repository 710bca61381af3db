package ledger

import (
	"log/slog"
	"time"

	"github.com/scryptpool/poolmicrocloud/tools/internal/journal"
)

// WriterOptions tune a Writer; zero values take the defaults.
type WriterOptions struct {
	// BufferShares bounds the unwritten shares held in memory (100000:
	// minutes of a busy pool's shares, a few tens of MB).
	BufferShares int
	// BatchSize is the most shares one transaction writes (1000).
	BatchSize int
	// FlushInterval is how long a share may wait for its batch (1s).
	FlushInterval time.Duration
	// RetryBackoffMin and RetryBackoffMax bound the exponential wait
	// between failed writes (100ms, 10s).
	RetryBackoffMin, RetryBackoffMax time.Duration
	// WriteTimeout bounds one transaction, so that a hung database is
	// noticed and retried rather than waited on forever (10s).
	WriteTimeout time.Duration
	// ShutdownTimeout bounds the final flush after Run's context ends (10s).
	ShutdownTimeout time.Duration
	// Journal, when set, makes every share and block durable on local
	// disk before Add or AddBlock returns; call Writer.Replay first.
	Journal *journal.Journal
	Logger  *slog.Logger
}

func (o WriterOptions) withDefaults() WriterOptions {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.BufferShares, 100000)
	def(&o.BatchSize, 1000)
	defDur(&o.FlushInterval, time.Second)
	defDur(&o.RetryBackoffMin, 100*time.Millisecond)
	defDur(&o.RetryBackoffMax, 10*time.Second)
	o.RetryBackoffMax = max(o.RetryBackoffMax, o.RetryBackoffMin)
	defDur(&o.WriteTimeout, 10*time.Second)
	defDur(&o.ShutdownTimeout, 10*time.Second)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}
