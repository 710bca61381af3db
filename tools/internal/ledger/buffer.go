package ledger

// shareBuffer is the FIFO of accepted, not yet written shares. A share
// leaves it only after the transaction that wrote it committed, so a
// failed write is retried from the same head in the same order.
//
// It is not safe for concurrent use; the Writer guards it with its mutex.
type shareBuffer struct {
	limit int
	items []Share
	head  int // items[:head] are written and cleared
	// pushed and popped count shares over the buffer's life; a block
	// remembers pushed when it is added and waits for popped to reach it.
	pushed, popped uint64
}

func newShareBuffer(limit int) *shareBuffer {
	return &shareBuffer{limit: limit}
}

func (b *shareBuffer) len() int { return len(b.items) - b.head }

// push appends s unless the buffer already holds limit shares.
func (b *shareBuffer) push(s Share) bool {
	if b.len() >= b.limit {
		return false
	}
	b.items = append(b.items, s)
	b.pushed++
	return true
}

// peek copies up to n shares from the head; the copy stays valid while
// pushes reallocate the backing array.
func (b *shareBuffer) peek(n int) []Share {
	n = min(n, b.len())
	out := make([]Share, n)
	copy(out, b.items[b.head:b.head+n])
	return out
}

// pop drops n written shares from the head.
func (b *shareBuffer) pop(n int) {
	n = min(n, b.len())
	clear(b.items[b.head : b.head+n]) // let the strings be collected
	b.head += n
	b.popped += uint64(n)
	switch {
	case b.head == len(b.items) && cap(b.items) > 1<<16:
		// Drained after an outage: give the large array back.
		b.items, b.head = nil, 0
	case b.head == len(b.items):
		b.items, b.head = b.items[:0], 0
	case b.head >= 4096 && b.head*2 >= len(b.items):
		// Mostly dead prefix: move the live tail down so memory stays
		// proportional to what is buffered, at amortised O(1) per share.
		live := copy(b.items, b.items[b.head:])
		clear(b.items[live:])
		b.items, b.head = b.items[:live], 0
	}
}
