package ledger

import (
	"encoding/json"
	"fmt"
)

// journalRecord is one share or one block as the journal holds it.
type journalRecord struct {
	Share *Share `json:"share,omitempty"`
	Block *Block `json:"block,omitempty"`
}

// journal makes r durable before Add or AddBlock returns; without a
// journal it does nothing.
func (w *Writer) journal(ticket uint64, r journalRecord) error {
	if w.opts.Journal == nil {
		return nil
	}
	payload, err := json.Marshal(r)
	if err == nil {
		err = w.opts.Journal.Append(ticket, payload)
	}
	if err != nil {
		w.mu.Lock()
		w.stats.NotDurable++
		w.stats.LastError = err
		w.mu.Unlock()
		w.log.Error("journal append failed: the record is buffered but not on local disk", "err", err)
		return fmt.Errorf("%w: %v", ErrNotDurable, err)
	}
	return nil
}

// Replay takes back the shares and blocks an earlier process journaled
// and may not have written (a power cut, a kill): they go to the front of
// the buffer, ahead of any new share, and are written like any other.
// Shares already stored are not stored twice (share_key), blocks neither
// (hash). Call it before Add and Run.
func (w *Writer) Replay() (shares, blocks int, err error) {
	if w.opts.Journal == nil {
		return 0, 0, nil
	}
	r, err := w.opts.Journal.Replay(func(payload []byte) (uint64, error) {
		var rec journalRecord
		if err := json.Unmarshal(payload, &rec); err != nil {
			return 0, fmt.Errorf("decode record: %w", err)
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		switch {
		case rec.Share != nil:
			w.tickets++
			s := *rec.Share
			s.ticket = w.tickets
			// Never refused for room: it was promised to a miner.
			w.buf.items = append(w.buf.items, s)
			w.buf.pushed++
			shares++
			return w.tickets, nil
		case rec.Block != nil:
			w.tickets++
			w.blocks = append(w.blocks, pendingBlock{Block: *rec.Block, sharesBefore: w.buf.pushed, ticket: w.tickets})
			w.blocksAdded++
			blocks++
			return w.tickets, nil
		}
		return 0, fmt.Errorf("record holds neither a share nor a block")
	})
	for _, path := range r.SetAside {
		w.log.Error("journal: a segment holds a record that is not a share or a block; set aside for a person, the rest replayed", "segment", path)
	}
	if err != nil {
		return shares, blocks, err
	}
	if r.TornBytes > 0 {
		w.log.Warn("journal: a record cut short by a crash was skipped (it was never acknowledged)", "bytes", r.TornBytes)
	}
	if shares+blocks > 0 {
		w.log.Info("journal replayed: shares and blocks accepted before the last stop are written again", "shares", shares, "blocks", blocks, "segments", r.Segments)
	}
	w.mu.Lock()
	w.stats.ReplayedShares += uint64(shares)
	w.stats.ReplayedBlocks += uint64(blocks)
	w.mu.Unlock()
	return shares, blocks, nil
}

// releasableLocked is the highest ticket up to which every record is
// stored: short of the oldest unwritten share and the oldest unwritten
// block; w.mu held.
func (w *Writer) releasableLocked() uint64 {
	upTo := w.tickets
	if w.buf.len() > 0 {
		upTo = min(upTo, w.buf.items[w.buf.head].ticket-1)
	}
	if len(w.blocks) > 0 {
		upTo = min(upTo, w.blocks[0].ticket-1)
	}
	return upTo
}

// released follows a write: the journal drops what the database now
// holds, and then Flush callers are woken, so that a Flush that returned
// finds the journal released.
func (w *Writer) released() {
	if w.opts.Journal != nil {
		w.mu.Lock()
		upTo := w.releasableLocked()
		w.mu.Unlock()
		if err := w.opts.Journal.Release(upTo); err != nil {
			w.log.Warn("journal release failed; its records stay and are replayed harmlessly", "err", err)
		}
	}
	w.mu.Lock()
	w.settledShares, w.settledBlocks = w.buf.popped, w.stats.BlocksWritten
	w.notifyLocked()
	w.mu.Unlock()
}
