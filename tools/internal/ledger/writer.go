package ledger

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

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
	// tickets is the last journal ticket given, to shares and blocks
	// alike in the order they were added.
	tickets uint64
	// settledShares and settledBlocks are what was written and released
	// from the journal: what Flush waits for.
	settledShares, settledBlocks uint64
}

type pendingBlock struct {
	Block
	// sharesBefore is the number of shares accepted before the block;
	// they are written first so that the block's share id exists.
	sharesBefore uint64
	ticket       uint64 // its journal ticket
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
	case w.buf.len() >= w.buf.limit:
		w.stats.Rejected++
		w.mu.Unlock()
		return ErrBufferFull
	}
	w.tickets++
	ticket := w.tickets
	s.ticket = ticket
	w.buf.push(s)
	fullBatch := w.buf.len() >= w.opts.BatchSize
	w.mu.Unlock()
	if fullBatch {
		w.poke()
	}
	return w.journal(ticket, journalRecord{Share: &s})
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
	w.tickets++
	ticket := w.tickets
	w.blocks = append(w.blocks, pendingBlock{Block: b, sharesBefore: w.buf.pushed, ticket: ticket})
	w.blocksAdded++
	w.mu.Unlock()
	w.poke()
	return w.journal(ticket, journalRecord{Block: &b})
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
		done := w.settledShares >= shares && w.settledBlocks >= blocks
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
	// NotDurable counts Add and AddBlock calls whose journal append
	// failed; ReplayedShares and ReplayedBlocks what Replay took back.
	NotDurable                     uint64
	ReplayedShares, ReplayedBlocks uint64
	LastError                      error
	LastErrorAt                    time.Time
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
