// Package ledger keeps the pool's books in PostgreSQL: the shares miners
// submit, the blocks they find and the workers seen.
//
// Share handling must never wait for the database, and nothing the pool
// accepted may be lost when the database blips or the power goes. So
// stratum servers hand shares to a Writer, which appends them to a local
// journal (package journal: on disk before Add returns), buffers them
// (bounded, with back-pressure when full), writes them in idempotent
// batches and retries until they are stored, and only then lets the
// journal drop them.
package ledger

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"
)

var (
	// ErrBufferFull is Add's back-pressure: the database is so far behind
	// that the buffer holds its limit of unwritten shares. The share was
	// not accepted; a stratum server rejects it ("pool busy").
	ErrBufferFull = errors.New("ledger buffer full: database is behind")
	// ErrClosed is returned once the Writer has begun its final flush.
	ErrClosed = errors.New("ledger writer closed")
	// ErrNotDurable is Add's answer when the journal could not make the
	// share durable (a disk error). The share is still written to the
	// database, but a stratum server must not promise it: it answers
	// "pool busy" rather than "accepted".
	ErrNotDurable = errors.New("share not made durable on local disk")
	// ErrInvalid marks a share or block the database could never store;
	// it is refused up front so that it cannot block the batches behind it.
	ErrInvalid = errors.New("invalid ledger record")
)

// Share is one accepted share, as credited to a miner.
type Share struct {
	// Key is assigned by the producer and unique across the pool (e.g.
	// instance, connection and sequence); a share written twice under
	// the same key is stored once.
	Key               string
	Coin              string
	Address           string
	Worker            string // the part of the login after the dot
	Difficulty        float64
	NetworkDifficulty float64
	Height            int64
	Instance          string // which stratum server accepted it
	At                time.Time

	ticket uint64 // its journal ticket, set by the Writer
}

// Block is a block found by a miner and accepted by a wallet.
type Block struct {
	Coin    string
	Height  int64
	Hash    string
	Address string
	Worker  string
	Reward  int64 // in the coin's smallest unit
	Wallet  string
	At      time.Time
	// ShareKey is the key of the share that found the block, added
	// before the block. Its id bounds the block's PPLNS window; without
	// it, the coin's newest share at write time does.
	ShareKey string
}

func (s Share) validate() error {
	switch {
	case s.Key == "":
		return fmt.Errorf("%w: share without a key", ErrInvalid)
	case s.Coin == "" || s.Address == "":
		return fmt.Errorf("%w: share %q without coin or address", ErrInvalid, s.Key)
	case !(s.Difficulty > 0) || math.IsInf(s.Difficulty, 0):
		return fmt.Errorf("%w: share %q difficulty %v", ErrInvalid, s.Key, s.Difficulty)
	case !(s.NetworkDifficulty >= 0) || math.IsInf(s.NetworkDifficulty, 0):
		return fmt.Errorf("%w: share %q network difficulty %v", ErrInvalid, s.Key, s.NetworkDifficulty)
	case s.Height < 0:
		return fmt.Errorf("%w: share %q height %d", ErrInvalid, s.Key, s.Height)
	}
	return storableText("share", s.Key, s.Coin, s.Address, s.Worker, s.Instance)
}

func (b Block) validate() error {
	switch {
	case b.Coin == "" || b.Hash == "":
		return fmt.Errorf("%w: block at height %d without coin or hash", ErrInvalid, b.Height)
	case b.Height < 0 || b.Reward < 0:
		return fmt.Errorf("%w: block %s height %d reward %d", ErrInvalid, b.Hash, b.Height, b.Reward)
	}
	return storableText("block", b.Coin, b.Hash, b.Address, b.Worker, b.Wallet, b.ShareKey)
}

// storableText refuses what PostgreSQL's text type rejects. Worker names
// come from miners, and one bad row would fail its whole batch forever.
func storableText(what string, fields ...string) error {
	for _, f := range fields {
		if !utf8.ValidString(f) || strings.IndexByte(f, 0) >= 0 {
			return fmt.Errorf("%w: %s field %q is not valid UTF-8 text", ErrInvalid, what, f)
		}
	}
	return nil
}
