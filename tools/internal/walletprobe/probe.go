package walletprobe

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scryptpool/poolmicrocloud/tools/internal/chain"
)

// Discovery finds the other wallets of the coin.
type Discovery interface {
	// Wallets lists the RPC addresses (host:port) of every instance,
	// healthy or not: a lagging instance must still see the best height.
	Wallets(ctx context.Context) ([]string, error)
	// PeerAddrs lists the peer-to-peer addresses of every instance.
	PeerAddrs(ctx context.Context) ([]string, error)
}

// Probe follows one wallet.
type Probe struct {
	RPC *chain.Client
	// Self and SelfP2P are this wallet's own addresses, left out of the
	// comparison and of peering.
	Self    string
	SelfP2P string
	// Discovery may be nil: then the wallet is compared with its peers
	// only.
	Discovery Discovery
	// Wallet is the name of the wallet (keys) the daemon must have loaded;
	// empty to leave wallets alone.
	Wallet string
	// Seed is the pool's HD seed (32 bytes) the wallet must hold: a new
	// wallet is made blank and given it, one with another seed is given
	// it and rescans the chain. nil: the wallet keeps its own seed.
	Seed       []byte
	Limits     Limits
	Poll       time.Duration
	RPCTimeout time.Duration
	// PeerEvery is how many polls pass between peering rounds.
	PeerEvery int
	Log       io.Writer
	// Backups serves the daemon's copies of its wallet to the backup
	// job; nil serves none.
	Backups *Backups

	mu      sync.Mutex
	state   State
	tipHash string
	// downloadFrom is the first progress seen of an initial block
	// download, and when: the rate since then estimates the time left.
	downloadFrom   float64
	downloadFromAt time.Time
	peerBest       int64
	peerFrom       string
	othersBest     int64
	othersFrom     string
	// walletOK says the wallet was seen loaded (and seeded) since the
	// daemon last failed to answer; a daemon that went away may have
	// restarted. settingUp: a call loading or seeding it is under way.
	walletOK, settingUp atomic.Bool
	// scanLogged: the wait for the wallet's scan was logged (touched only
	// by the one setup running at a time).
	scanLogged bool
	// setupAfter (Unix nanoseconds): no wallet setup before then.
	setupAfter atomic.Int64
	logged     string
	// headersAtPeering is the wallet's header count at the last peering
	// round; stalledRounds counts the rounds in a row it did not move
	// while the other instances were ahead.
	headersAtPeering int64
	stalledRounds    int
}

func (p *Probe) now() time.Time { return time.Now() }

// Snapshot returns the state as last seen.
func (p *Probe) Snapshot() State {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state
}

// Run polls the wallet until ctx ends. The other instances are asked in
// a loop of their own: one of them hanging must not delay this wallet's
// own answers, or a healthy wallet would look hung next to a hung sibling.
func (p *Probe) Run(ctx context.Context) {
	if p.Discovery != nil {
		go p.compareLoop(ctx)
	}
	tick := time.NewTicker(p.Poll)
	defer tick.Stop()
	for round := 0; ; round++ {
		p.poll(ctx, p.PeerEvery > 0 && round%p.PeerEvery == 0)
		p.logTransitions()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (p *Probe) compareLoop(ctx context.Context) {
	tick := time.NewTicker(p.Poll)
	defer tick.Stop()
	for {
		p.compare(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (p *Probe) call(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, timeout)
}

// poll asks the wallet how it is, and its peers, and records what it saw.
func (p *Probe) poll(ctx context.Context, peering bool) {
	callCtx, cancel := p.call(ctx, p.RPCTimeout)
	info, err := p.RPC.BlockchainInfo(callCtx)
	cancel()
	if ctx.Err() != nil {
		return
	}
	now := p.now()
	if err != nil {
		p.walletOK.Store(false)
		p.mu.Lock()
		p.state.CheckedAt = now
		p.state.Failure, p.state.FailureText = chain.KindOf(err), err.Error()
		if k := chain.KindOf(err); k != chain.Timeout && k != chain.Unreachable && k != "" {
			// It answered, if not usefully: not hung.
			p.state.AnsweredAt = now
		}
		p.mu.Unlock()
		return
	}
	// Record the answer at once; the calls below may take a while.
	p.mu.Lock()
	p.state.CheckedAt, p.state.AnsweredAt = now, now
	p.state.Failure, p.state.FailureText = "", ""
	p.state.Height, p.state.Headers, p.state.IBD = info.Blocks, info.Headers, info.InitialBlockDownload
	p.state.Progress = info.VerificationProgress
	p.state.ProgressRate = p.downloadRate(now, *info)
	tipHash := p.tipHash
	p.mu.Unlock()

	tipTime := time.Time{}
	if info.BestBlockHash != tipHash {
		callCtx, cancel := p.call(ctx, p.RPCTimeout)
		if t, err := p.RPC.BlockTime(callCtx, info.BestBlockHash); err == nil {
			tipTime, tipHash = t, info.BestBlockHash
		}
		cancel()
	}
	var list []chain.Peer
	peers, peerBest, peerFrom := -1, int64(0), ""
	callCtx, cancel = p.call(ctx, p.RPCTimeout)
	if l, err := p.RPC.Peers(callCtx); err == nil {
		list, peers = l, len(l)
		for _, peer := range list {
			if peer.SyncedHeaders > peerBest {
				peerBest, peerFrom = peer.SyncedHeaders, "peer "+peer.Addr
			}
		}
	}
	cancel()
	if p.Wallet != "" && !p.walletOK.Load() && now.UnixNano() >= p.setupAfter.Load() && p.settingUp.CompareAndSwap(false, true) {
		// Creating and seeding a wallet writes thousands of keys: it may
		// take longer than a poll, which must go on meanwhile.
		go func() {
			defer p.settingUp.Store(false)
			if p.setUpWallet(ctx) {
				p.walletOK.Store(true)
			}
		}()
	}
	if peering && p.Discovery != nil && peers >= 0 {
		p.peer(ctx, list)
		p.unstall(ctx, info.Headers, list)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !tipTime.IsZero() {
		p.state.TipTime, p.tipHash = tipTime, tipHash
	}
	if peers >= 0 {
		p.state.Peers = peers
		p.peerBest, p.peerFrom = peerBest, peerFrom
	}
	p.updateBest()
}

// walletSetupTimeout bounds loading, creating and seeding the wallet.
const walletSetupTimeout = 2 * time.Minute

// setupRetry is how long the setup waits after the wallet refused its
// scan before it asks again (every poll would flood the log); scanWait
// how often a scan under way is looked at.
const (
	setupRetry = 30 * time.Second
	scanWait   = 5 * time.Second
)

// setUpWallet loads the wallet, creating it and giving it the pool's
// seed where that is needed, and reports whether it is ready.
func (p *Probe) setUpWallet(ctx context.Context) bool {
	callCtx, cancel := p.call(ctx, walletSetupTimeout)
	defer cancel()
	if p.Seed == nil {
		if err := p.RPC.EnsureWallet(callCtx, p.Wallet); err != nil {
			fmt.Fprintf(p.Log, "probe: load or create wallet %q: %v\n", p.Wallet, err)
			return false
		}
		return true
	}
	did, err := p.RPC.EnsureSeededWallet(callCtx, p.Wallet, p.Seed)
	if err != nil {
		fmt.Fprintf(p.Log, "probe: load, create or seed wallet %q: %v\n", p.Wallet, err)
		return false
	}
	switch did {
	case chain.SeedNewWallet:
		fmt.Fprintf(p.Log, "probe: created wallet %q with the pool's HD seed\n", p.Wallet)
	case chain.SeedReplaced:
		fmt.Fprintf(p.Log, "probe: wallet %q now holds the pool's HD seed\n", p.Wallet)
	}
	// A wallet given the seed after its daemon synced blocks does not
	// know what those blocks paid the pool's keys until it scans the
	// chain again, once. Until then it is not ready: the payout and
	// blocks jobs pass over a scanning wallet. The scan may outlast the
	// setup timeout by far on a main chain; the daemon finishes it.
	if !p.scanLogged {
		fmt.Fprintf(p.Log, "probe: wallet %q: making sure it has scanned the chain for the pool's keys\n", p.Wallet)
		p.scanLogged = true
	}
	scan, err := p.RPC.EnsureScanned(ctx)
	if err != nil {
		fmt.Fprintf(p.Log, "probe: scan wallet %q for the pool's keys: %v; trying again in %s\n", p.Wallet, err, setupRetry)
		p.setupAfter.Store(p.now().Add(setupRetry).UnixNano())
		return false
	}
	if !scan.Done {
		// Another scan runs (one a killed probe started): wait for it.
		p.setupAfter.Store(p.now().Add(scanWait).UnixNano())
		return false
	}
	if scan.From > 0 {
		fmt.Fprintf(p.Log, "probe: wallet %q scanned the chain from height %d, the lowest block its pruned daemon still has: what blocks below it paid the pool's keys is known to the other instances only\n", p.Wallet, scan.From)
	}
	fmt.Fprintf(p.Log, "probe: wallet %q is ready: it holds the pool's HD seed and has scanned the chain\n", p.Wallet)
	return true
}

// updateBest recomputes the best known height from the wallet's own
// headers, its peers and the other instances. Called with p.mu held.
func (p *Probe) updateBest() {
	s := &p.state
	s.Best, s.BestFrom = s.Height, "itself"
	if s.Headers > s.Best {
		s.Best, s.BestFrom = s.Headers, "its own headers"
	}
	if p.peerBest > s.Best {
		s.Best, s.BestFrom = p.peerBest, p.peerFrom
	}
	if p.othersBest > s.Best {
		s.Best, s.BestFrom = p.othersBest, p.othersFrom
	}
}

// compare asks every other instance of the coin for its height, at once,
// each with a short timeout: a hung sibling must not hold this up.
func (p *Probe) compare(ctx context.Context) {
	callCtx, cancel := p.call(ctx, p.RPCTimeout)
	defer cancel()
	addrs, err := p.Discovery.Wallets(callCtx)
	if err != nil {
		fmt.Fprintf(p.Log, "probe: list the coin's wallets: %v\n", err)
		return
	}
	type answer struct {
		addr   string
		height int64
	}
	answers := make(chan answer, len(addrs))
	var wg sync.WaitGroup
	for _, addr := range addrs {
		if addr == p.Self {
			continue
		}
		wg.Add(1)
		go func(addr string) {
			defer wg.Done()
			other := *p.RPC
			other.URL = "http://" + addr
			if h, err := other.BlockCount(callCtx); err == nil {
				answers <- answer{addr, h}
			}
		}(addr)
	}
	wg.Wait()
	close(answers)
	others, best, from := 0, int64(0), ""
	for a := range answers {
		others++
		if a.height > best {
			best, from = a.height, "instance "+a.addr
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.state.Others, p.othersBest, p.othersFrom = others, best, from
	p.updateBest()
}

// peer keeps the daemon connected to the coin's other wallets: addnode
// for every instance Consul knows that it is not connected to, so that a
// wallet replaced on another node, or back from a network cut, is found
// again without a restart.
func (p *Probe) peer(ctx context.Context, list []chain.Peer) {
	connected := map[string]bool{}
	for _, peer := range list {
		connected[peer.Addr] = true
	}
	callCtx, cancel := p.call(ctx, p.RPCTimeout)
	defer cancel()
	addrs, err := p.Discovery.PeerAddrs(callCtx)
	if err != nil {
		return
	}
	for _, addr := range addrs {
		if addr == p.SelfP2P || connected[addr] {
			continue
		}
		if err := p.RPC.AddNode(callCtx, addr); err != nil {
			fmt.Fprintf(p.Log, "probe: addnode %s: %v\n", addr, err)
		}
	}
}

// unstall helps a wallet whose sync has stopped. The daemon asks one peer
// at a time for headers while its tip is old (on regtest always, on
// mainnet after a long time off), and waits up to 15 minutes for a peer
// that has nothing to give: a fresh instance beside another fresh one, or
// a connection to itself. When the other instances are ahead and the
// wallet's headers did not move for two rounds in a row (one could be a
// block on its way), it drops the peers that are no further than the
// wallet itself, so that it asks one that is; the probe's peering brings
// the dropped ones back.
func (p *Probe) unstall(ctx context.Context, headers int64, list []chain.Peer) {
	p.mu.Lock()
	best := p.othersBest
	if best > headers && headers == p.headersAtPeering {
		p.stalledRounds++
	} else {
		p.stalledRounds = 0
	}
	p.headersAtPeering = headers
	stalled := p.stalledRounds >= 2
	p.mu.Unlock()
	if !stalled {
		return
	}
	callCtx, cancel := p.call(ctx, p.RPCTimeout)
	defer cancel()
	for _, peer := range list {
		if peer.StartingHeight > headers || peer.SyncedHeaders > headers {
			continue
		}
		if err := p.RPC.DisconnectNode(callCtx, peer.Addr); err != nil {
			fmt.Fprintf(p.Log, "probe: disconnect %s: %v\n", peer.Addr, err)
			continue
		}
		fmt.Fprintf(p.Log, "probe: sync stalled at %d headers while the other instances are at %d: disconnected %s, which has no blocks to give\n", headers, best, peer.Addr)
	}
}

// logTransitions writes a line when a check's status changes, not every
// second.
func (p *Probe) logTransitions() {
	s := p.Snapshot()
	now := p.now()
	live, sync := s.Live(now, p.Limits), s.Sync(now, p.Limits)
	key := live.Status + "/" + sync.Status
	p.mu.Lock()
	changed := key != p.logged
	p.logged = key
	p.mu.Unlock()
	if changed {
		fmt.Fprintf(p.Log, "probe: live %s (%s); sync %s (%s)\n", live.Status, live.Reason, sync.Status, sync.Reason)
	}
}

// Report is /v1/status.
type Report struct {
	State
	Lag  int64   `json:"lag"`
	Live Verdict `json:"live"`
	Sync Verdict `json:"sync"`
}

// Handler serves the checks from the last state, without calling the
// wallet: instant even when the wallet hangs.
func (p *Probe) Handler() http.Handler {
	mux := http.NewServeMux()
	verdict := func(f func(State, time.Time, Limits) Verdict) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			v := f(p.Snapshot(), p.now(), p.Limits)
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(v.HTTPCode())
			fmt.Fprintf(w, "%s: %s\n", v.Status, v.Reason)
		}
	}
	mux.Handle("/v1/live", verdict(State.Live))
	mux.Handle("/v1/sync", verdict(State.Sync))
	mux.HandleFunc("/v1/status", func(w http.ResponseWriter, _ *http.Request) {
		s, now := p.Snapshot(), p.now()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(Report{State: s, Lag: s.Lag(), Live: s.Live(now, p.Limits), Sync: s.Sync(now, p.Limits)})
	})
	mux.Handle(BackupsPath, p.Backups.Handler())
	return mux
}

// FetchReport reads another probe's /v1/status (poolctl status).
func FetchReport(ctx context.Context, client *http.Client, addr string) (*Report, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+strings.TrimPrefix(addr, "http://")+"/v1/status", nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var r Report
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&r); err != nil {
		return nil, fmt.Errorf("probe at %s: %w", addr, err)
	}
	return &r, nil
}

// downloadRate is how fast an initial block download verifies the chain,
// per hour, measured from the first poll that saw it; 0 until a minute has
// passed or when no download is under way. Called with mu held.
func (p *Probe) downloadRate(now time.Time, info chain.BlockchainInfo) float64 {
	if !info.InitialBlockDownload {
		p.downloadFromAt = time.Time{}
		return 0
	}
	if p.downloadFromAt.IsZero() {
		p.downloadFrom, p.downloadFromAt = info.VerificationProgress, now
		return 0
	}
	elapsed := now.Sub(p.downloadFromAt)
	if elapsed < time.Minute || info.VerificationProgress <= p.downloadFrom {
		return 0
	}
	return (info.VerificationProgress - p.downloadFrom) / elapsed.Hours()
}
