package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/scryptpool/poolmicrocloud/tools/internal/chain"
	"github.com/scryptpool/poolmicrocloud/tools/internal/ledger"
	"github.com/scryptpool/poolmicrocloud/tools/internal/stratum"
)

type sharesResult struct {
	RawHashes      int
	RawCPU         time.Duration
	RawWall        time.Duration
	Shares         int
	Rejected       int
	ServerCPU      time.Duration
	ServerWall     time.Duration
	SubmitConns    int
	ServerMaxProcs int
}

func (r sharesResult) rawPerCPUSecond() float64 { return float64(r.RawHashes) / r.RawCPU.Seconds() }
func (r sharesResult) oursPerCPUSecond() float64 {
	return float64(r.Shares) / r.ServerCPU.Seconds()
}

// countingSink is the ledger's place taken by a counter: no database, so
// the figure is the server's own cost.
type countingSink struct {
	n      atomic.Int64
	target int64
	done   chan struct{}
}

func (s *countingSink) Add(ledger.Share) error {
	if s.n.Add(1) == s.target {
		close(s.done)
	}
	return nil
}

func (s *countingSink) AddBlock(ledger.Block) error { return nil }

type noBlocks struct{}

func (noBlocks) SubmitBlock(context.Context, string) (string, error) {
	return "", fmt.Errorf("the benchmark submits no blocks")
}

// sharesServer measures raw scrypt on one goroutine, then the server on
// one core validating shares from a miner process.
func sharesServer() error {
	seconds := envFloat("SECONDS")
	conns := envInt("CONNS")
	res := sharesResult{SubmitConns: conns}

	w, err := benchWork(0)
	if err != nil {
		return err
	}
	// Raw and server both get one core; raw is measured before and after
	// the server and the faster of the two is the baseline, so noise on a
	// shared machine does not flatter the server.
	runtime.GOMAXPROCS(1)
	res.ServerMaxProcs = 1
	raw := func() error {
		hashes, wall, cpu, err := rawScrypt(w, time.Duration(seconds*float64(time.Second)*0.5))
		if err != nil {
			return err
		}
		if res.RawHashes == 0 || float64(hashes)/cpu.Seconds() > res.rawPerCPUSecond() {
			res.RawHashes, res.RawWall, res.RawCPU = hashes, wall, cpu
		}
		fmt.Fprintf(os.Stderr, "  raw scrypt: %.0f H/s per CPU-second\n", float64(hashes)/cpu.Seconds())
		return nil
	}
	if err := raw(); err != nil {
		return err
	}

	res.Shares = int(math.Ceil(res.rawPerCPUSecond()*seconds/float64(conns))) * conns
	sink := &countingSink{target: int64(res.Shares), done: make(chan struct{})}
	cfg := stratum.DefaultConfig()
	cfg.Coin, cfg.Network, cfg.Instance = "ltc", "regtest", "bench"
	cfg.Vardiff.Start, cfg.Vardiff.Min, cfg.Vardiff.TargetInterval = shareDifficulty, shareDifficulty, 0
	cfg.SubmitsPerSecond = 0
	cfg.MaxBadMessages = math.MaxInt32
	cfg.HandshakeTimeout = time.Minute
	cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := stratum.New(cfg, sink, noBlocks{}, nil)
	srv.Publish(w, "bench", true)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, l) }()
	defer func() {
		cancel()
		<-served
		shutdown, stop := context.WithTimeout(context.Background(), 5*time.Second)
		defer stop()
		srv.Shutdown(shutdown, "")
	}()

	miners, err := startChild(context.Background(), "shares-client", map[string]string{
		"ADDR": l.Addr().String(), "CONNS": fmt.Sprint(conns), "SHARES": fmt.Sprint(res.Shares),
	}, os.Stderr)
	if err != nil {
		return err
	}
	defer miners.stop()
	if _, err := miners.expect("ready", 5*time.Minute); err != nil {
		return err
	}
	runtime.GC() // the handshakes' garbage is not the measured path's
	cpu0, err := cpuTime()
	if err != nil {
		return err
	}
	start := time.Now()
	if err := miners.send("go"); err != nil {
		return err
	}
	select {
	case <-sink.done:
	case <-time.After(time.Duration(seconds*20) * time.Second):
		return fmt.Errorf("only %d of %d shares accepted in time", sink.n.Load(), res.Shares)
	}
	res.ServerWall = time.Since(start)
	cpu1, err := cpuTime()
	if err != nil {
		return err
	}
	res.ServerCPU = cpu1 - cpu0
	answers, err := miners.expect("done", time.Minute)
	if err != nil {
		return err
	}
	var accepted int
	if _, err := fmt.Sscan(answers[0]+" "+answers[1], &accepted, &res.Rejected); err != nil {
		return fmt.Errorf("read miners' answers %v: %w", answers, err)
	}
	if accepted != res.Shares {
		return fmt.Errorf("miners saw %d shares accepted, the sink %d", accepted, res.Shares)
	}
	fmt.Fprintf(os.Stderr, "  server: %d shares in %.2fs CPU (%.2fs wall)\n", res.Shares, res.ServerCPU.Seconds(), res.ServerWall.Seconds())
	if err := miners.stop(); err != nil {
		return err
	}
	if err := raw(); err != nil {
		return err
	}
	return printResult(res)
}

// rawScrypt hashes an 80-byte header in a loop on this goroutine for
// about d: what one core does with no protocol around it.
func rawScrypt(w *chain.Work, d time.Duration) (hashes int, wall, cpu time.Duration, err error) {
	header := w.Header(make([]byte, stratum.ExtranonceSize), w.CurTime, 0, w.Version)
	cpu0, err := cpuTime()
	if err != nil {
		return 0, 0, 0, err
	}
	start := time.Now()
	for time.Since(start) < d {
		header[76]++ // a new nonce each time, as a miner would
		chain.ScryptHash(header)
		hashes++
	}
	wall = time.Since(start)
	cpu1, err := cpuTime()
	if err != nil {
		return 0, 0, 0, err
	}
	return hashes, wall, cpu1 - cpu0, nil
}
