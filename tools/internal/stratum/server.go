package stratum

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scryptpool/poolmicrocloud/tools/internal/chain"
	"github.com/scryptpool/poolmicrocloud/tools/internal/ledger"
)

// Config is one stratum server's settings.
type Config struct {
	Coin    string
	Network string
	// Instance names this server in shares and in the coinbase, so two
	// instances never hand out the same work.
	Instance string
	Vardiff  Vardiff

	// HandshakeTimeout is how long a connection may take to subscribe
	// and authorize; IdleTimeout how long an authorized miner may stay
	// silent; LineTimeout how long one message may take to arrive once
	// started (slowloris). WriteTimeout bounds each write to a miner: one
	// that does not read is dropped, not waited for.
	HandshakeTimeout time.Duration
	IdleTimeout      time.Duration
	LineTimeout      time.Duration
	WriteTimeout     time.Duration

	// MaxConnections bounds the miners served at once; with
	// MemoryLimitMiB it is lowered to what fits (see connectionsThatFit).
	MaxConnections int
	// MemoryLimitMiB is the task's memory limit (Nomad's
	// NOMAD_MEMORY_LIMIT); 0 when not known.
	MemoryLimitMiB int
	// MaxConnectionsPerIP bounds the connections of one peer (an IPv4
	// address or an IPv6 /64); 0 is no limit.
	MaxConnectionsPerIP int
	// MaxWorkersPerConnection bounds the worker names one connection may
	// authorize: a stratum proxy carries dozens of rigs on one, and
	// every name is kept for as long as the connection lives.
	MaxWorkersPerConnection int
	// SubmitsPerSecond and SubmitBurst limit each connection's submits.
	SubmitsPerSecond float64
	SubmitBurst      int
	// MaxBadMessages is how many malformed or refused messages a
	// connection may send before it is dropped.
	MaxBadMessages int
	// A peer (an IPv4 address or an IPv6 /64) whose connections are
	// dropped for misbehaviour (more than MaxBadMessages refused
	// messages: garbage, invalid shares, refused workers; or a line
	// over MaxLineBytes) BanAfterDrops times within BanWindow is banned
	// for BanDuration: its new connections are closed at accept, unread.
	// Its connections already open are left alone. 0 turns bans off.
	BanAfterDrops int
	BanWindow     time.Duration
	BanDuration   time.Duration
	// MaxBanEntries bounds the peers remembered for bans (about 100
	// bytes each).
	MaxBanEntries int
	// SwitchGrace is how long shares on the previous wallet's tip count
	// after a wallet switch.
	SwitchGrace time.Duration

	Log *slog.Logger
}

// DefaultConfig is what the jobs run with unless told otherwise.
func DefaultConfig() Config {
	return Config{
		Vardiff: Vardiff{
			Start: 16, Min: 0.001, Max: 1 << 20,
			TargetInterval:       10 * time.Second,
			RetargetAfter:        30 * time.Second,
			MaxSharesPerRetarget: 20,
		},
		HandshakeTimeout: 15 * time.Second,
		IdleTimeout:      15 * time.Minute,
		LineTimeout:      10 * time.Second,
		WriteTimeout:     5 * time.Second,
		MaxConnections:   20000,
		// Rigs behind one home router share its address, and so do all
		// the rigs of the pool's own LAN when they reach it through the
		// router's forwarded port (hairpin NAT); cgminer opens a backup
		// connection too. 32 is several such homes' worth of rigs, and
		// still lets no single address take more than a sliver of
		// MaxConnections.
		MaxConnectionsPerIP:     32,
		MaxWorkersPerConnection: 64,
		SubmitsPerSecond:        20,
		SubmitBurst:             100,
		MaxBadMessages:          10,
		// An honest miner is never dropped for misbehaviour; three times
		// in ten minutes is a script, or a rig so misconfigured that it
		// only burdens the pool. Ten minutes makes a flood pointless, and
		// a rig fixed meanwhile gets back in without the operator.
		BanAfterDrops: 3,
		BanWindow:     10 * time.Minute,
		BanDuration:   10 * time.Minute,
		MaxBanEntries: 10000,
		SwitchGrace:   30 * time.Second,
		Log:           slog.Default(),
	}
}

// ShareSink keeps accepted shares and found blocks (the ledger's writer).
type ShareSink interface {
	Add(ledger.Share) error
	AddBlock(ledger.Block) error
}

// BlockSubmitter hands a solved block to the coin's wallets.
type BlockSubmitter interface {
	SubmitBlock(ctx context.Context, blockHex string) (wallet string, err error)
}

// Server is a stratum v1 server for one coin.
type Server struct {
	cfg     Config
	sink    ShareSink
	blocks  BlockSubmitter
	metrics *Metrics
	jobs    jobBook

	extranonce atomic.Uint32

	bans *banTable

	mu       sync.Mutex
	sessions map[*session]struct{}
	perIP    map[netip.Prefix]int
	closing  bool

	// blockFound is told when a block was accepted, so the work source
	// fetches the next template at once.
	blockFound chan struct{}
	wg         sync.WaitGroup
}

// New returns a server; Serve runs it.
func New(cfg Config, sink ShareSink, blocks BlockSubmitter, m *Metrics) *Server {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if m == nil {
		m = NewMetrics(nil)
	}
	cfg.MaxConnections = capConnections(cfg)
	s := &Server{
		cfg: cfg, sink: sink, blocks: blocks, metrics: m,
		sessions:   map[*session]struct{}{},
		perIP:      map[netip.Prefix]int{},
		bans:       newBanTable(cfg.BanAfterDrops, cfg.BanWindow, cfg.BanDuration, cfg.MaxBanEntries),
		blockFound: make(chan struct{}, 1),
	}
	var seed [4]byte
	_, _ = rand.Read(seed[:])
	s.extranonce.Store(binary.BigEndian.Uint32(seed[:]))
	return s
}

// ExtranonceSize is extranonce1 (ours, per connection) plus extranonce2
// (the miner's) in bytes: what chain.NewWork leaves room for.
const (
	Extranonce1Size = 4
	Extranonce2Size = 4
	ExtranonceSize  = Extranonce1Size + Extranonce2Size
)

// BlockFound is signalled after a block was accepted by a wallet.
func (s *Server) BlockFound() <-chan struct{} { return s.blockFound }

// Serve accepts miners on l until ctx ends or l is closed.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	go func() {
		<-ctx.Done()
		l.Close()
	}()
	go s.tick(ctx)
	for {
		conn, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			// Out of file descriptors and the like: wait a little rather
			// than spin, and keep serving the miners already here.
			s.cfg.Log.Warn("accept failed", "err", err)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		sess, reason := s.admit(conn)
		if sess == nil {
			s.metrics.refused.WithLabelValues(reason).Inc()
			conn.Close()
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			sess.serve()
		}()
	}
}

// admit registers a new connection, unless limits say no.
func (s *Server) admit(conn net.Conn) (*session, string) {
	ip := peerOf(conn.RemoteAddr())
	if s.bans.banned(ip, time.Now()) {
		return nil, "banned"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closing:
		return nil, "shutting down"
	case s.cfg.MaxConnections > 0 && len(s.sessions) >= s.cfg.MaxConnections:
		return nil, "too many connections"
	case s.cfg.MaxConnectionsPerIP > 0 && s.perIP[ip] >= s.cfg.MaxConnectionsPerIP:
		return nil, "too many connections from one address"
	}
	sess := newSession(s, conn, ip, s.nextExtranonce1())
	s.sessions[sess] = struct{}{}
	s.perIP[ip]++
	s.metrics.connections.Inc()
	return sess, ""
}

func (s *Server) forget(sess *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.sessions[sess]; !ok {
		return
	}
	delete(s.sessions, sess)
	if s.perIP[sess.ip]--; s.perIP[sess.ip] <= 0 {
		delete(s.perIP, sess.ip)
	}
	s.metrics.connections.Dec()
}

func (s *Server) nextExtranonce1() []byte {
	b := make([]byte, Extranonce1Size)
	binary.BigEndian.PutUint32(b, s.extranonce.Add(1))
	return b
}

// droppedForMisbehaviour counts a connection of peer ended for what it
// sent; enough of them ban the peer.
func (s *Server) droppedForMisbehaviour(peer netip.Prefix) {
	if !s.bans.dropped(peer, time.Now()) {
		return
	}
	s.metrics.bans.Inc()
	s.cfg.Log.Warn("peer banned: its connections were dropped for misbehaviour too often",
		"peer", peerString(peer), "drops", s.cfg.BanAfterDrops, "within", s.cfg.BanWindow, "for", s.cfg.BanDuration)
}

// Publish makes w the current work and sends it to every subscribed miner.
// clean tells miners to drop what they are doing (a new block); a refresh
// or a wallet switch on the same tip keeps their work valid. It returns
// once every miner has been written to (or dropped for not reading).
func (s *Server) Publish(w *chain.Work, wallet string, clean bool) *Job {
	j := s.jobs.add(w, wallet, clean, s.cfg.SwitchGrace, time.Now())
	s.broadcast(func(sess *session) { sess.sendJob(j) })
	return j
}

// broadcast runs f for every session, spread over the CPUs: with ten
// thousand miners a new block must reach all of them at once.
func (s *Server) broadcast(f func(*session)) int {
	s.mu.Lock()
	all := make([]*session, 0, len(s.sessions))
	for sess := range s.sessions {
		all = append(all, sess)
	}
	s.mu.Unlock()
	workers := min(runtime.GOMAXPROCS(0)*4, len(all))
	if workers == 0 {
		return 0
	}
	var wg sync.WaitGroup
	chunk := (len(all) + workers - 1) / workers
	for i := 0; i < len(all); i += chunk {
		part := all[i:min(i+chunk, len(all))]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, sess := range part {
				f(sess)
			}
		}()
	}
	wg.Wait()
	return len(all)
}

// Connections is how many miners are connected now.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// CurrentJob is the newest work, nil before the first template.
func (s *Server) CurrentJob() *Job { return s.jobs.latest() }

// tick looks at every connection now and then: vardiff for miners that
// went quiet, and the hashrate figures.
func (s *Server) tick(ctx context.Context) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			s.broadcast(func(sess *session) { sess.lookAtDifficulty(now) })
			s.metrics.updateHashrates(now)
			s.metrics.banned.Set(float64(s.bans.prune(now)))
		}
	}
}

// Shutdown tells every miner to reconnect (to reconnectTo, host:port, or
// where it came from when empty), stops taking new ones and waits for
// them to leave until ctx ends, then closes the rest.
func (s *Server) Shutdown(ctx context.Context, reconnectTo string) {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	msg := notification("client.reconnect")
	if host, port, err := net.SplitHostPort(reconnectTo); err == nil {
		msg = notification("client.reconnect", host, port, 0)
	}
	n := s.broadcast(func(sess *session) { sess.push(msg) })
	s.cfg.Log.Info("sent client.reconnect", "miners", n, "to", reconnectTo)
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		s.broadcast(func(sess *session) { sess.conn.Close() })
		<-done
	}
}

// submitBlock hands a solved block to the wallets and records it.
func (s *Server) submitBlock(j *Job, header, extranonce []byte, w worker) {
	hash := chain.BlockHash(header)
	block, err := j.Work.Block(extranonce, header)
	if err != nil {
		s.cfg.Log.Error("assemble block", "hash", hash, "height", j.Work.Height, "err", err)
		s.metrics.blocks.WithLabelValues("invalid").Inc()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	wallet, err := s.blocks.SubmitBlock(ctx, fmt.Sprintf("%x", block))
	if err == nil {
		s.jobs.solved(j.Tip)
	}
	switch {
	case chain.IsInconclusive(err):
		// The tip moved while the block was solved or sent: the wallet
		// keeps it off its best chain. It is recorded as found (pending);
		// the block tracker orphans it once the chain has passed it, or
		// credits it if its branch wins.
		s.cfg.Log.Warn("block found as the chain moved on: kept, the chain decides (submitblock: inconclusive)",
			"hash", hash, "height", j.Work.Height, "worker", w.full, "wallet", wallet)
		s.metrics.blocks.WithLabelValues("inconclusive").Inc()
	case err != nil:
		s.cfg.Log.Error("block rejected", "hash", hash, "height", j.Work.Height, "worker", w.full, "err", err)
		s.metrics.blocks.WithLabelValues("rejected").Inc()
		return
	default:
		s.cfg.Log.Info("block found", "hash", hash, "height", j.Work.Height, "worker", w.full, "wallet", wallet)
		s.metrics.blocks.WithLabelValues("accepted").Inc()
	}
	err = s.sink.AddBlock(ledger.Block{
		Coin: s.cfg.Coin, Height: j.Work.Height, Hash: hash,
		Address: w.address, Worker: w.name,
		Reward: j.Work.CoinbaseValue, Wallet: wallet, At: time.Now().UTC(),
		ShareKey: shareKey(header),
	})
	if err != nil {
		s.cfg.Log.Error("record found block", "hash", hash, "height", j.Work.Height, "err", err)
	}
	select {
	case s.blockFound <- struct{}{}:
	default:
	}
}
