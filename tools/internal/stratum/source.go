package stratum

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/scryptpool/poolmicrocloud/tools/internal/chain"
)

// Source feeds the server work from the healthiest wallet of the coin and
// moves to another when that one fails, without the miners noticing: a
// switch on the same tip keeps their jobs valid.
type Source struct {
	Server  *Server
	Wallets WalletFinder
	// Dial returns an RPC client for a wallet's host:port.
	Dial         func(hostport string) *chain.Client
	PayoutScript []byte
	CoinbaseTag  []byte
	// Poll is how often the current wallet is asked for its tip; Refresh
	// how often fresh work (new transactions, time) is sent anyway.
	Poll       time.Duration
	Refresh    time.Duration
	RPCTimeout time.Duration
	// Avoid is how long a wallet that failed a call is passed over.
	Avoid time.Duration
	// NoLongPoll leaves new blocks to the Poll alone: no BIP 22 long poll
	// holds one of the wallet's RPC threads (longpoll.go).
	NoLongPoll bool
	Log        *slog.Logger

	mu      sync.Mutex
	current string
	tip     string
	// height and longPollID are those of the last template published:
	// the long poll waits on that id and its answer is judged against
	// that height.
	height     int64
	longPollID string
	avoid      map[string]time.Time
	noneLog    bool
	lp         longPoller
}

// Current is the wallet work comes from now.
func (s *Source) Current() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.current
}

// Run keeps the server's work current until ctx ends: a new block found
// elsewhere comes by the long poll the moment the wallet has it, or by the
// Poll when the wallet does not long-poll.
func (s *Source) Run(ctx context.Context) error {
	if s.avoid == nil {
		s.avoid = map[string]time.Time{}
	}
	poll := time.NewTicker(s.Poll)
	defer poll.Stop()
	longPolled := make(chan longPollResult)
	defer s.stopLongPoll()
	refreshAt := time.Time{}
	for ctx.Err() == nil {
		wallet := s.choose(ctx)
		if wallet == "" {
			s.stopLongPoll()
			s.wait(ctx, time.Second)
			continue
		}
		if time.Now().After(refreshAt) || s.tipMoved(ctx, wallet) {
			if err := s.fetch(ctx, wallet); err != nil {
				s.failed(wallet, err)
				continue
			}
			refreshAt = time.Now().Add(s.Refresh)
		}
		retry := s.longPoll(ctx, wallet, longPolled)
		select {
		case <-ctx.Done():
		case <-poll.C:
		case <-s.Server.BlockFound():
			refreshAt = time.Time{}
		case <-s.Wallets.Changed():
		case <-retry:
		case r := <-longPolled:
			if s.longPollAnswered(ctx, r) {
				refreshAt = time.Now().Add(s.Refresh)
			}
		}
	}
	return nil
}

func (s *Source) wait(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-s.Wallets.Changed():
	case <-time.After(d):
	}
}

// choose keeps the current wallet while Consul passes it and it answers;
// otherwise it takes the highest of the passing ones (any registered one
// when none passes: degraded work beats none).
func (s *Source) choose(ctx context.Context) string {
	passing, all := s.Wallets.Wallets()
	s.mu.Lock()
	current := s.current
	now := time.Now()
	usable := func(list []string) []string {
		var out []string
		for _, w := range list {
			if now.After(s.avoid[w]) {
				out = append(out, w)
			}
		}
		return out
	}
	candidates := usable(passing)
	if len(candidates) == 0 {
		candidates = usable(all)
	}
	s.mu.Unlock()
	if slices.Contains(candidates, current) {
		return current
	}
	best, bestHeight := "", int64(-1)
	for _, w := range candidates {
		callCtx, cancel := context.WithTimeout(ctx, s.RPCTimeout)
		h, err := s.Dial(w).BlockCount(callCtx)
		cancel()
		if err != nil {
			s.failed(w, err)
			continue
		}
		if h > bestHeight {
			best, bestHeight = w, h
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if best == "" {
		if !s.noneLog {
			s.Log.Error("no wallet in service: miners keep the last work", "passing", passing, "registered", all)
			s.noneLog = true
		}
		return ""
	}
	s.noneLog = false
	if best != s.current {
		s.Log.Info("taking work from wallet", "wallet", best, "height", bestHeight, "previous", s.current)
		s.Server.metrics.WalletSwitched(s.current, best)
		s.current = best
	}
	return best
}

// failed passes over a wallet for a while after a failed call.
func (s *Source) failed(wallet string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.avoid[wallet] = time.Now().Add(s.Avoid)
	s.Log.Warn("wallet failed a call; using another", "wallet", wallet, "err", err)
	if s.current == wallet {
		s.current = ""
	}
}

// tipMoved asks the wallet for its best block: cheap enough to poll.
func (s *Source) tipMoved(ctx context.Context, wallet string) bool {
	callCtx, cancel := context.WithTimeout(ctx, s.RPCTimeout)
	defer cancel()
	hash, err := s.Dial(wallet).BestBlockHash(callCtx)
	if err != nil {
		s.failed(wallet, err)
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return hash != s.tip
}

// fetch turns the wallet's block template into the current job.
func (s *Source) fetch(ctx context.Context, wallet string) error {
	callCtx, cancel := context.WithTimeout(ctx, 3*s.RPCTimeout)
	defer cancel()
	t, err := s.Dial(wallet).BlockTemplate(callCtx, "")
	if err != nil {
		return fmt.Errorf("getblocktemplate: %w", err)
	}
	return s.publish(t, wallet)
}

// publish makes a template of the wallet the current job; a new tip makes
// it clean.
func (s *Source) publish(t *chain.Template, wallet string) error {
	w, err := chain.NewWork(t, s.PayoutScript, s.CoinbaseTag, ExtranonceSize)
	if err != nil {
		return fmt.Errorf("work from the template of height %d: %w", t.Height, err)
	}
	s.mu.Lock()
	clean := t.PreviousBlockHash != s.tip
	cause := "refresh"
	if last := s.Server.CurrentJob(); last != nil && last.Wallet != wallet {
		cause = "switch"
	}
	if clean {
		cause = "block"
	}
	s.tip, s.height, s.longPollID = t.PreviousBlockHash, t.Height, t.LongPollID
	s.mu.Unlock()
	s.Server.Publish(w, wallet, clean)
	s.Server.metrics.JobSent(cause)
	return nil
}

// SubmitBlock implements BlockSubmitter: the block goes to every wallet in
// service at once, so it spreads even if the one we work from just died.
func (s *Source) SubmitBlock(ctx context.Context, blockHex string) (string, error) {
	passing, all := s.Wallets.Wallets()
	targets := slices.Clone(passing)
	if len(targets) == 0 {
		targets = slices.Clone(all)
	}
	if cur := s.Current(); cur != "" && !slices.Contains(targets, cur) {
		targets = append(targets, cur)
	}
	if len(targets) == 0 {
		return "", errors.New("no wallet to submit to")
	}
	type answer struct {
		wallet string
		err    error
	}
	// Buffered: wallets that answer after the first acceptance (a hung
	// one, for instance) finish in the background.
	answers := make(chan answer, len(targets))
	for _, w := range targets {
		go func() {
			callCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			err := s.Dial(w).SubmitBlock(callCtx, blockHex)
			if chain.IsDuplicate(err) {
				err = nil // another wallet already relayed it here
			}
			answers <- answer{w, err}
		}()
	}
	var failures []string
	var inconclusive *answer
	for range targets {
		a := <-answers
		if a.err == nil {
			return a.wallet, nil
		}
		if chain.IsInconclusive(a.err) && inconclusive == nil {
			inconclusive = &a
		}
		failures = append(failures, a.wallet+": "+a.err.Error())
	}
	if inconclusive != nil {
		// A wallet has the block, off its best chain: not a rejection.
		return inconclusive.wallet, inconclusive.err
	}
	return "", errors.New(strings.Join(failures, "; "))
}
