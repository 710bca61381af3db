package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/scryptpool/poolmicrocloud/tools/internal/chain"
	"github.com/scryptpool/poolmicrocloud/tools/internal/ledger"
	"github.com/scryptpool/poolmicrocloud/tools/internal/regtest"
	"github.com/scryptpool/poolmicrocloud/tools/internal/stratum"
)

// payoutAddress is a regtest address: the pool's, and the other node's
// block rewards.
const payoutAddress = "mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn"

// warmup blocks are mined and waited for before measuring: the pool's
// wallet then takes blocks from the other node as compact blocks, as a
// synced mainnet wallet does from its peers.
const warmup = 3

// mode is one way of getting new work, with its own server and miner.
type mode struct {
	name       string
	noLongPoll bool

	miner     *notifyReader
	latencies []time.Duration // per measured block; never when it did not come
}

type result struct {
	blocks  int
	poll    time.Duration
	version string
	machine string
	modes   []*mode // the new mode first
}

func measure(ctx context.Context, o options, stderr io.Writer) (*result, error) {
	fmt.Fprintln(stderr, "starting two regtest litecoind, peered over P2P")
	pool, err := regtest.Start(ctx, "pool", stderr)
	if err != nil {
		return nil, err
	}
	defer pool.Stop()
	other, err := regtest.Start(ctx, "other", stderr)
	if err != nil {
		return nil, err
	}
	defer other.Stop()
	if err := pool.Client().AddNode(ctx, other.P2PAddr); err != nil {
		return nil, fmt.Errorf("peer the pool's wallet with the other node: %w", err)
	}
	if err := waitPeered(ctx, other); err != nil {
		return nil, err
	}
	var netInfo struct {
		Subversion string `json:"subversion"`
	}
	if err := pool.Client().Call(ctx, "getnetworkinfo", nil, &netInfo); err != nil {
		return nil, err
	}

	res := &result{blocks: o.blocks, poll: o.poll, version: netInfo.Subversion, machine: machineFacts()}
	res.modes = []*mode{
		{name: fmt.Sprintf("long poll (poll %s kept as fallback)", o.poll)},
		{name: fmt.Sprintf("poll every %s, no long poll (today)", o.poll), noLongPoll: true},
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	for _, m := range res.modes {
		addr, done, err := serve(runCtx, pool, m.noLongPoll, o.poll, log)
		if err != nil {
			return nil, err
		}
		defer func() {
			stop()
			<-done
		}()
		if m.miner, err = connectMiner(runCtx, addr); err != nil {
			return nil, fmt.Errorf("miner of %s: %w", m.name, err)
		}
		defer m.miner.conn.Close()
	}

	fmt.Fprintf(stderr, "mining %d warm-up and %d measured blocks on the other node\n", warmup, o.blocks)
	for i := range warmup + o.blocks {
		// A pause shorter than the poll puts each block at a random
		// point of the poll's cycle.
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(rand.N(o.poll)):
		}
		hashes, err := other.Client().GenerateToAddress(ctx, 1, payoutAddress)
		if err != nil {
			return nil, fmt.Errorf("generatetoaddress on the other node: %w", err)
		}
		returned := time.Now()
		for _, m := range res.modes {
			d := m.miner.cleanWorkOn(ctx, hashes[0], returned, o.wait)
			if i >= warmup {
				m.latencies = append(m.latencies, d)
			} else if d == never {
				return nil, fmt.Errorf("warm-up block %d did not reach the miner of %s within %s", i+1, m.name, o.wait)
			}
		}
	}
	return res, nil
}

func waitPeered(ctx context.Context, l *regtest.Daemon) error {
	deadline := time.Now().Add(time.Minute)
	for {
		peers, err := l.Client().Peers(ctx)
		if err == nil && len(peers) > 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the daemons did not peer within a minute: %v", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

type nopSink struct{}

func (nopSink) Add(ledger.Share) error      { return nil }
func (nopSink) AddBlock(ledger.Block) error { return nil }

// serve runs a stratum server fed by a Source from the pool's wallet, as
// `poolctl stratum` runs them, until ctx ends; done is closed after both
// stopped.
func serve(ctx context.Context, pool *regtest.Daemon, noLongPoll bool, poll time.Duration, log *slog.Logger) (addr string, done chan struct{}, err error) {
	cfg := stratum.DefaultConfig()
	cfg.Coin, cfg.Network, cfg.Instance, cfg.Log = "ltc", "regtest", "bench", log
	srv := stratum.New(cfg, nopSink{}, nil, nil)
	script, err := chain.OutputScript(payoutAddress, "regtest")
	if err != nil {
		return "", nil, err
	}
	src := &stratum.Source{
		Server: srv, Wallets: stratum.StaticWallets{pool.RPCAddr},
		Dial:         regtest.Dial,
		PayoutScript: script, CoinbaseTag: []byte("/bench/"),
		Poll: poll, Refresh: 30 * time.Second, RPCTimeout: 2 * time.Second, Avoid: 10 * time.Second,
		NoLongPoll: noLongPoll, Log: log,
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	done = make(chan struct{})
	served, sourced := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(ctx, l)
	}()
	go func() {
		defer close(sourced)
		_ = src.Run(ctx)
	}()
	go func() {
		<-served
		<-sourced
		close(done)
	}()
	return l.Addr().String(), done, nil
}

// notify is a mining.notify as the miner read it.
type notify struct {
	at    time.Time
	id    string
	prev  string // display order
	clean bool
}

// notifyReader is a miner's connection that notes when each job came.
type notifyReader struct {
	conn    net.Conn
	notices chan notify
	seen    map[string]bool
}

func connectMiner(ctx context.Context, addr string) (*notifyReader, error) {
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	m := &notifyReader{conn: conn, notices: make(chan notify, 1024), seen: map[string]bool{}}
	hello := `{"id":1,"method":"mining.subscribe","params":["bench-newwork/1"]}` + "\n" +
		`{"id":2,"method":"mining.authorize","params":["` + payoutAddress + `.bench","x"]}` + "\n"
	if _, err := conn.Write([]byte(hello)); err != nil {
		conn.Close()
		return nil, err
	}
	go m.read()
	// The first job: work is there, and later ones are new.
	select {
	case n, ok := <-m.notices:
		if !ok {
			return nil, fmt.Errorf("the server closed the connection before the first job")
		}
		m.seen[n.id] = true
	case <-time.After(time.Minute):
		conn.Close()
		return nil, fmt.Errorf("no job within a minute of subscribing")
	}
	return m, nil
}

func (m *notifyReader) read() {
	defer close(m.notices)
	r := bufio.NewReader(m.conn)
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			return
		}
		at := time.Now()
		if !strings.Contains(string(line), `"mining.notify"`) {
			continue
		}
		var msg struct {
			Params []json.RawMessage `json:"params"`
		}
		if json.Unmarshal(line, &msg) != nil || len(msg.Params) < 9 {
			continue
		}
		n := notify{at: at}
		var prev string
		if json.Unmarshal(msg.Params[0], &n.id) != nil || json.Unmarshal(msg.Params[1], &prev) != nil || json.Unmarshal(msg.Params[8], &n.clean) != nil {
			continue
		}
		n.prev = displayHash(prev)
		m.notices <- n
	}
}

// displayHash turns mining.notify's previous-block hash (the header's
// bytes with each 32-bit word reversed) into the order RPC shows.
func displayHash(stratumPrev string) string {
	b, err := hex.DecodeString(stratumPrev)
	if err != nil || len(b) != 32 {
		return ""
	}
	for i := 0; i < 32; i += 4 {
		slices.Reverse(b[i : i+4])
	}
	slices.Reverse(b)
	return hex.EncodeToString(b)
}

// cleanWorkOn waits for the first new job with clean jobs built on block
// and returns how long after since it came (negative when it came before
// since), or never when it did not come within wait of since. Jobs sent
// again (after a difficulty change) are not new.
func (m *notifyReader) cleanWorkOn(ctx context.Context, block string, since time.Time, wait time.Duration) time.Duration {
	timer := time.NewTimer(time.Until(since.Add(wait)))
	defer timer.Stop()
	for {
		var n notify
		var ok bool
		// What already came counts before the timer does.
		select {
		case n, ok = <-m.notices:
		default:
			select {
			case n, ok = <-m.notices:
			case <-timer.C:
				return never
			case <-ctx.Done():
				return never
			}
		}
		if !ok {
			return never
		}
		if m.seen[n.id] {
			continue
		}
		m.seen[n.id] = true
		if n.clean && n.prev == block {
			return n.at.Sub(since)
		}
	}
}
