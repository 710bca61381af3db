package stratum

import (
	"context"
	"errors"
	"time"

	"github.com/scryptpool/poolmicrocloud/tools/internal/chain"
)

// A BIP 22 long poll is getblocktemplate with the longpollid of the last
// template: litecoind answers it the moment its best block changes (or,
// after a minute at least, when its mempool did), so a block found
// elsewhere reaches miners without waiting for the next Poll. The Poll
// stays, for wallets that do not long-poll and while long polls fail.
//
// litecoind holds one RPC worker thread per long poll until it answers,
// even after the caller went away (a cancelled call, a stratum restart):
// a long poll is therefore cancelled only when the wallet is left or Run
// ends, never to renew it, and the wallet job runs more RPC threads than
// the default for it (jobspec/wallet.go).

// longPoller is the Source's long poll state. Run alone changes it, under
// the Source's mutex so that tests can look.
type longPoller struct {
	inFlight *longPoll
	// wallet is the one the failures below were counted on; failing is
	// how many long polls in a row failed there, retryAt when the next
	// may start.
	wallet  string
	failing int
	retryAt time.Time
	// unsupported is the last wallet found without long polling, so that
	// it is logged once.
	unsupported string
}

// longPoll is one getblocktemplate call waiting on a wallet.
type longPoll struct {
	wallet  string
	tip     string // the tip it waits to move
	started time.Time
	cancel  context.CancelFunc
	done    chan struct{} // closed when the call returned
}

type longPollResult struct {
	poll     *longPoll
	template *chain.Template
	err      error
}

// The wait after a failed long poll, doubled for each failure in a row up
// to the maximum; the Poll keeps work current meanwhile.
const (
	longPollBackoff    = time.Second
	longPollMaxBackoff = time.Minute
)

// longPoll keeps one long poll in flight on wallet, waiting on the last
// published template's id, and cancels one on another wallet (or on this
// one when it failed a call since choose). While long polls fail it
// returns when the next may start; otherwise nil.
func (s *Source) longPoll(ctx context.Context, wallet string, out chan<- longPollResult) <-chan time.Time {
	if s.NoLongPoll {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.current != wallet {
		wallet = "" // it failed a call just now
	}
	lp := &s.lp
	if p := lp.inFlight; p != nil {
		if p.wallet == wallet {
			return nil
		}
		// Its answer would be another wallet's work; the thread it holds
		// there is freed by that wallet's next block.
		p.cancel()
		lp.inFlight = nil
	}
	if wallet == "" {
		return nil
	}
	if lp.wallet != wallet {
		lp.wallet, lp.failing, lp.retryAt = wallet, 0, time.Time{}
	}
	if s.longPollID == "" {
		if lp.unsupported != wallet {
			s.Log.Info("the wallet's templates carry no longpollid: new blocks are seen by polling its tip", "wallet", wallet, "poll", s.Poll)
			lp.unsupported = wallet
		}
		return nil
	}
	if wait := time.Until(lp.retryAt); wait > 0 {
		return time.After(wait)
	}
	// The id may come from another wallet's template after a switch on
	// the same tip: it names that tip, and this wallet waits for the same
	// change.
	id := s.longPollID
	callCtx, cancel := context.WithCancel(ctx)
	p := &longPoll{wallet: wallet, tip: s.tip, started: time.Now(), cancel: cancel, done: make(chan struct{})}
	lp.inFlight = p
	go func() {
		defer close(p.done)
		// No deadline (RPCTimeout would cut every wait): the answer comes
		// when the tip moves, minutes away on mainnet. A wallet that dies
		// or hangs fails the Poll, which leaves it and cancels this; a
		// silent peer is found by TCP keep-alive.
		t, err := s.Dial(wallet).BlockTemplate(callCtx, id)
		select {
		case out <- longPollResult{poll: p, template: t, err: err}:
		case <-callCtx.Done():
		}
	}()
	return nil
}

// stopLongPoll cancels the long poll in flight and waits for it to end.
func (s *Source) stopLongPoll() {
	s.mu.Lock()
	p := s.lp.inFlight
	s.lp.inFlight = nil
	s.mu.Unlock()
	if p != nil {
		p.cancel()
		<-p.done
	}
}

// errAnsweredAtOnce is a long poll answered on the same tip straight
// away: a daemon that ignores longpollid would otherwise be called in a
// loop.
var errAnsweredAtOnce = errors.New("answered at once without a new block: the wallet does not hold long polls")

// longPollAnswered publishes what a long poll brought, when it is newer
// than the current job, and reports whether it published.
func (s *Source) longPollAnswered(ctx context.Context, r longPollResult) bool {
	s.mu.Lock()
	if s.lp.inFlight != r.poll {
		s.mu.Unlock()
		return false // cancelled as it answered
	}
	s.lp.inFlight = nil
	current, tip, height, id := s.current, s.tip, s.height, s.longPollID
	s.mu.Unlock()
	if current != r.poll.wallet {
		return false // the wallet failed a call meanwhile
	}

	wallet, t := r.poll.wallet, r.template
	if r.err == nil && t.PreviousBlockHash == r.poll.tip && time.Since(r.poll.started) < longPollBackoff {
		r.err = errAnsweredAtOnce
	}
	if r.err != nil {
		s.longPollFailed(wallet, r.err)
		return false
	}
	s.longPollWorked(wallet)
	var err error
	switch {
	case t.PreviousBlockHash != tip && t.Height > height:
		// A new block. Published as it is: asking again would cost a
		// template's time, and any work published since the call began
		// was on a lower tip.
		err = s.publish(t, wallet)
	case t.PreviousBlockHash == tip && t.LongPollID != id:
		// The daemon's own timeout: new transactions on the same tip.
		err = s.publish(t, wallet)
	case t.PreviousBlockHash == tip:
		return false // the Poll was first with this very template
	default:
		// Not above the current job: a reorganisation, or work newer than
		// this answer was published meanwhile. Ask afresh.
		err = s.fetch(ctx, wallet)
	}
	if err != nil {
		s.failed(wallet, err)
		return false
	}
	return true
}

// longPollDelay is the wait after a failed long poll that follows
// failedBefore others in a row.
func longPollDelay(failedBefore int) time.Duration {
	return min(longPollBackoff<<min(failedBefore, 8), longPollMaxBackoff)
}

// longPollFailed backs off, logging the first failure of a run only.
func (s *Source) longPollFailed(wallet string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	lp := &s.lp
	delay := longPollDelay(lp.failing)
	lp.failing++
	lp.retryAt = time.Now().Add(delay)
	if lp.failing == 1 {
		s.Log.Warn("long poll failed: new blocks are seen by polling the tip until one works again",
			"wallet", wallet, "poll", s.Poll, "retry_in", delay, "err", err)
	}
}

// longPollWorked ends a run of failures.
func (s *Source) longPollWorked(wallet string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lp.failing > 0 {
		s.Log.Info("long poll works again", "wallet", wallet, "failures", s.lp.failing)
	}
	s.lp.failing, s.lp.retryAt = 0, time.Time{}
}
