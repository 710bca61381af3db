package ledger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
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
	Logger          *slog.Logger
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

// Stats is a snapshot of a Writer for metrics.
type Stats struct {
	Buffered int    // accepted shares not yet written
	Written  uint64 // shares committed, including ones already stored
	// Duplicates counts written shares whose key was already stored: a
	// batch retried after a lost commit answer, or a repeated Add.
	Duplicates uint64
	Rejected   uint64 // Add calls refused with ErrBufferFull
	// Dropped counts accepted shares given up on. It stays zero unless
	// the shutdown deadline passes with shares unwritten.
	Dropped        uint64
	BlocksPending  int
	BlocksWritten  uint64
	BlocksDropped  uint64
	FailedAttempts uint64 // failed transactions, each retried
	LastError      error
	LastErrorAt    time.Time
}

// Writer persists shares and blocks in the background. Add and AddBlock
// never wait for the database; Run does the writing.
type Writer struct {
	pool *pgxpool.Pool
	opts WriterOptions
	log  *slog.Logger
	wake chan struct{}

	mu       sync.Mutex
	buf      *shareBuffer
	blocks   []pendingBlock
	running  bool
	closed   bool // no more Add or AddBlock: the final flush has begun
	stopped  bool // Run has returned
	progress chan struct{}
	stats    Stats
	// blocksAdded counts AddBlock calls; blocks are written in order, so
	// stats.BlocksWritten reaching it means all are written.
	blocksAdded uint64
}

type pendingBlock struct {
	Block
	// sharesBefore is the number of shares accepted before the block;
	// they are written first so that the block's share id exists.
	sharesBefore uint64
}

// NewWriter returns a Writer that writes to pool once Run is called.
func NewWriter(pool *pgxpool.Pool, opts WriterOptions) *Writer {
	opts = opts.withDefaults()
	return &Writer{
		pool: pool, opts: opts, log: opts.Logger,
		wake:     make(chan struct{}, 1),
		buf:      newShareBuffer(opts.BufferShares),
		progress: make(chan struct{}),
	}
}

// Add accepts a share for writing without waiting. It returns
// ErrBufferFull when the database is too far behind to accept more, and
// ErrInvalid for a share that could never be stored.
func (w *Writer) Add(s Share) error {
	if err := s.validate(); err != nil {
		return err
	}
	if s.At.IsZero() {
		s.At = time.Now()
	}
	w.mu.Lock()
	switch {
	case w.closed:
		w.mu.Unlock()
		return ErrClosed
	case !w.buf.push(s):
		w.stats.Rejected++
		w.mu.Unlock()
		return ErrBufferFull
	}
	fullBatch := w.buf.len() >= w.opts.BatchSize
	w.mu.Unlock()
	if fullBatch {
		w.poke()
	}
	return nil
}

// AddBlock queues a found block. Blocks are never refused for lack of
// room: they are rare and each is worth far more than a share. It is
// written as soon as the shares added before it are.
func (w *Writer) AddBlock(b Block) error {
	if err := b.validate(); err != nil {
		return err
	}
	if b.At.IsZero() {
		b.At = time.Now()
	}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return ErrClosed
	}
	w.blocks = append(w.blocks, pendingBlock{Block: b, sharesBefore: w.buf.pushed})
	w.blocksAdded++
	w.mu.Unlock()
	w.poke()
	return nil
}

// Flush waits until every share and block added before the call is
// written. It returns ErrClosed if Run stopped first.
func (w *Writer) Flush(ctx context.Context) error {
	w.mu.Lock()
	shares, blocks := w.buf.pushed, w.blocksAdded
	w.mu.Unlock()
	w.poke()
	for {
		w.mu.Lock()
		done := w.buf.popped >= shares && w.stats.BlocksWritten >= blocks
		stopped, progress := w.stopped, w.progress
		w.mu.Unlock()
		switch {
		case done:
			return nil
		case stopped:
			return ErrClosed
		}
		select {
		case <-progress:
		case <-ctx.Done():
			return fmt.Errorf("flush ledger: %w", ctx.Err())
		}
	}
}

// Stats returns the Writer's counters now.
func (w *Writer) Stats() Stats {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.stats
	s.Buffered = w.buf.len()
	s.BlocksPending = len(w.blocks)
	return s
}

// poke wakes Run without waiting; one pending wake is enough.
func (w *Writer) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// notifyLocked wakes Flush callers; w.mu must be held.
func (w *Writer) notifyLocked() {
	close(w.progress)
	w.progress = make(chan struct{})
}

// Run writes until ctx ends, then stops accepting and flushes what it
// holds for at most ShutdownTimeout. A stratum server cancels ctx on
// shutdown and waits for Run: a nil result means nothing was lost.
func (w *Writer) Run(ctx context.Context) error {
	w.mu.Lock()
	if w.running {
		w.mu.Unlock()
		return errors.New("ledger writer already running")
	}
	w.running = true
	w.mu.Unlock()

	tick := time.NewTicker(w.opts.FlushInterval)
	defer tick.Stop()
	var backoff time.Duration
	for ctx.Err() == nil {
		if err := w.drain(ctx); err != nil {
			if ctx.Err() != nil {
				break // the final flush retries it
			}
			backoff = w.nextBackoff(backoff)
			w.failed(err, backoff)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
			}
			continue
		}
		if backoff > 0 {
			w.log.Info("ledger writes recovered", "buffered", w.Stats().Buffered)
			backoff = 0
		}
		select {
		case <-w.wake:
		case <-tick.C:
		case <-ctx.Done():
		}
	}
	return w.shutdown()
}

func (w *Writer) shutdown() error {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.stopped = true
		w.notifyLocked()
		w.mu.Unlock()
	}()

	ctx, cancel := context.WithTimeout(context.Background(), w.opts.ShutdownTimeout)
	defer cancel()
	var backoff time.Duration
	for {
		err := w.drain(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return w.giveUp(err)
		}
		backoff = w.nextBackoff(backoff)
		w.failed(err, backoff)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return w.giveUp(err)
		}
	}
}

// giveUp counts what the final flush could not write; only here does
// the ledger lose accepted shares, and it says so.
func (w *Writer) giveUp(cause error) error {
	w.mu.Lock()
	shares, blocks := w.buf.len(), len(w.blocks)
	w.stats.Dropped += uint64(shares)
	w.stats.BlocksDropped += uint64(blocks)
	// A fresh buffer rather than pop: Flush callers must see these as
	// never written.
	w.buf = newShareBuffer(w.opts.BufferShares)
	w.blocks = nil
	w.mu.Unlock()
	err := fmt.Errorf("ledger shutdown deadline passed with %d shares and %d blocks unwritten: %w", shares, blocks, cause)
	w.log.Error("ledger lost records at shutdown", "shares", shares, "blocks", blocks, "err", cause)
	return err
}

// drain writes what was accepted before it began, oldest first, and each
// block once the shares before it are written. Anything it fails to
// write stays at the head for the next attempt.
func (w *Writer) drain(ctx context.Context) error {
	w.mu.Lock()
	target := w.buf.pushed
	w.mu.Unlock()
	for {
		if err := w.writeReadyBlocks(ctx); err != nil {
			return err
		}
		w.mu.Lock()
		batch := w.buf.peek(min(w.opts.BatchSize, int(target-w.buf.popped)))
		w.mu.Unlock()
		if len(batch) == 0 {
			return nil
		}
		wctx, cancel := context.WithTimeout(ctx, w.opts.WriteTimeout)
		inserted, err := writeShares(wctx, w.pool, batch)
		cancel()
		if err != nil {
			return err
		}
		w.mu.Lock()
		// Only Run pops, so the head is still this batch.
		w.buf.pop(len(batch))
		w.stats.Written += uint64(len(batch))
		w.stats.Duplicates += uint64(len(batch)) - uint64(inserted)
		w.notifyLocked()
		w.mu.Unlock()
	}
}

func (w *Writer) writeReadyBlocks(ctx context.Context) error {
	for {
		w.mu.Lock()
		if len(w.blocks) == 0 || w.blocks[0].sharesBefore > w.buf.popped {
			w.mu.Unlock()
			return nil
		}
		b := w.blocks[0].Block
		w.mu.Unlock()
		wctx, cancel := context.WithTimeout(ctx, w.opts.WriteTimeout)
		err := writeBlock(wctx, w.pool, b)
		cancel()
		if err != nil {
			return err
		}
		w.log.Info("block recorded", "coin", b.Coin, "height", b.Height, "hash", b.Hash)
		w.mu.Lock()
		w.blocks = w.blocks[1:]
		w.stats.BlocksWritten++
		w.notifyLocked()
		w.mu.Unlock()
	}
}

func (w *Writer) nextBackoff(prev time.Duration) time.Duration {
	if prev == 0 {
		return w.opts.RetryBackoffMin
	}
	return min(2*prev, w.opts.RetryBackoffMax)
}

func (w *Writer) failed(err error, retryIn time.Duration) {
	w.mu.Lock()
	w.stats.FailedAttempts++
	w.stats.LastError, w.stats.LastErrorAt = err, time.Now()
	buffered, attempts := w.buf.len(), w.stats.FailedAttempts
	w.mu.Unlock()
	w.log.Warn("ledger write failed; retrying", "err", err, "buffered", buffered, "failed_attempts", attempts, "retry_in", retryIn)
}
