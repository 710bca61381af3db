package stratum

import (
	"encoding/hex"
	"strconv"
	"sync"
	"time"

	"github.com/scryptpool/poolmicrocloud/tools/internal/chain"
)

// Job is one piece of work sent to every miner with mining.notify.
type Job struct {
	ID     string
	Seq    uint64
	Work   *chain.Work
	Wallet string // the wallet whose template it is
	Clean  bool
	// Tip is the previous block the work builds on: jobs on another tip
	// are stale.
	Tip string
	// NetworkDifficulty is the block target as a share difficulty,
	// recorded with every share (PPLNS weighs by it).
	NetworkDifficulty float64

	notify []byte
	// resend is notify with clean_jobs false: the same job sent again to
	// one miner (after its difficulty changed) must not make it drop the
	// work it has under way.
	resend []byte

	mu sync.Mutex
	// seen holds the shares accepted on this job, for duplicates: only
	// accepted ones, each of which took real work, never what was sent.
	seen map[shareDigest]struct{}
}

// maxJobs is how many recent jobs stay valid for shares: a miner is
// always some seconds behind the newest.
const maxJobs = 16

func newJob(seq uint64, w *chain.Work, wallet string, clean bool) *Job {
	j := &Job{
		ID:     strconv.FormatUint(seq, 16),
		Seq:    seq,
		Work:   w,
		Wallet: wallet,
		Clean:  clean,
		Tip:    hex.EncodeToString(w.PrevHash[:]),
		seen:   map[shareDigest]struct{}{},

		NetworkDifficulty: chain.TargetDifficulty(w.Target),
	}
	params := []any{
		j.ID,
		chain.StratumPrevHash(w),
		hex.EncodeToString(w.Coinb1),
		hex.EncodeToString(w.Coinb2),
		w.StratumMerkleBranch(),
		chain.HexUint32(w.Version),
		chain.HexUint32(w.Bits),
		chain.HexUint32(w.CurTime),
	}
	j.notify = notification("mining.notify", append(params, clean)...)
	j.resend = j.notify
	if clean {
		j.resend = notification("mining.notify", append(params, false)...)
	}
	return j
}

// accepted reports whether a share was accepted on this job already:
// checked before the scrypt hash, so a resent share costs no hashing.
func (j *Job) accepted(key shareDigest) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	_, dup := j.seen[key]
	return dup
}

// accept records a share that met its difficulty, and reports whether it
// is new.
func (j *Job) accept(key shareDigest) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	if _, dup := j.seen[key]; dup {
		return false
	}
	j.seen[key] = struct{}{}
	return true
}

// jobBook holds the recent jobs and knows which are stale.
type jobBook struct {
	mu      sync.RWMutex
	seq     uint64
	jobs    map[string]*Job
	order   []*Job
	current *Job
	// graceTip is the tip the previous wallet was on when the server
	// switched wallets, and until when shares on it still count: a
	// switch is the pool's doing, not the miner's.
	graceTip   string
	graceUntil time.Time
	// solvedTip is a tip a block was found on: until the next template
	// arrives, more blocks on it would only be orphans.
	solvedTip string
}

// solved records that a block on tip was accepted.
func (b *jobBook) solved(tip string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.solvedTip = tip
}

// blockCandidate reports whether a block on j's tip may still extend the
// chain.
func (b *jobBook) blockCandidate(j *Job) bool {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return j.Tip == b.current.Tip && j.Tip != b.solvedTip
}

// add makes w the current job; clean says whether earlier jobs are now
// stale (a new block), which the job's Tip records.
func (b *jobBook) add(w *chain.Work, wallet string, clean bool, switchGrace time.Duration, now time.Time) *Job {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.jobs == nil {
		b.jobs = map[string]*Job{}
	}
	b.seq++
	j := newJob(b.seq, w, wallet, clean)
	if prev := b.current; prev != nil && prev.Tip != j.Tip && prev.Wallet != wallet && switchGrace > 0 {
		b.graceTip, b.graceUntil = prev.Tip, now.Add(switchGrace)
	}
	b.current = j
	b.jobs[j.ID] = j
	b.order = append(b.order, j)
	if len(b.order) > maxJobs {
		delete(b.jobs, b.order[0].ID)
		b.order = b.order[1:]
	}
	return j
}

// jobStatus is what a submitted job id refers to.
type jobStatus int

const (
	jobCurrent jobStatus = iota // on the current tip: a share, maybe a block
	jobGrace                    // on the tip of the wallet switched away from: a share only
	jobStale                    // on an old tip
	jobUnknown                  // never sent, or long gone
)

func (b *jobBook) lookup(id string, now time.Time) (*Job, jobStatus) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	j, ok := b.jobs[id]
	switch {
	case !ok:
		return nil, jobUnknown
	case j.Tip == b.current.Tip:
		return j, jobCurrent
	case j.Tip == b.graceTip && now.Before(b.graceUntil):
		return j, jobGrace
	default:
		return j, jobStale
	}
}

func (b *jobBook) latest() *Job {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.current
}
