package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"
)

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

// giveUp counts what the final flush could not write. Without a journal,
// only here does the ledger lose accepted shares, and it says so; with
// one, they wait in it for the next start.
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
	if w.opts.Journal != nil {
		// Not lost: the journal keeps them, and the next start replays
		// them. Counted as dropped by this process all the same.
		w.log.Warn("ledger shutdown deadline passed; unwritten records stay in the journal for the next start", "shares", shares, "blocks", blocks, "journal", w.opts.Journal.Dir(), "err", cause)
		return nil
	}
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
		w.mu.Unlock()
		w.released()
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
		w.mu.Unlock()
		w.released()
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
