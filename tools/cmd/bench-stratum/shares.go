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
	"runtime/pprof"
	"sync/atomic"
	"time"

	"github.com/scryptpool/poolmicrocloud/tools/internal/chain"
	"github.com/scryptpool/poolmicrocloud/tools/internal/ledger"
	"github.com/scryptpool/poolmicrocloud/tools/internal/stratum"
)

type sharesResult struct {
	RawHashes      int
	RawCPU         time.Duration
	Shares         int
	Rejected       int
	ServerCPU      time.Duration
	ServerWall     time.Duration
	SubmitConns    int
	ServerMaxProcs int
	Rounds         int
	// Per round, the raw rate and the server's rate (per CPU-second):
	// how much the machine's own speed moved during the run.
	RawRates, OurRates []float64
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

// sharesServer measures raw scrypt and the server on one core in
// alternating rounds: a slice of raw hashing, then a batch of shares
// validated by the server, and so on. A shared machine's speed drifts by
// several percent within a minute; alternating puts the drift into both
// figures alike instead of into their ratio.
func sharesServer() error {
	seconds := envFloat("SECONDS")
	conns := envInt("CONNS")
	rounds := envInt("ROUNDS")
	res := sharesResult{SubmitConns: conns, Rounds: rounds}

	w, err := benchWork(0)
	if err != nil {
		return err
	}
	runtime.GOMAXPROCS(1)
	res.ServerMaxProcs = 1
	slice := time.Duration(seconds * float64(time.Second) / float64(rounds))
	// A first slice, not counted, tells how many shares a round's batch
	// needs to take about as long as a raw slice.
	calibration, _, calCPU, err := rawScrypt(w, slice)
	if err != nil {
		return err
	}
	perRound := int(math.Ceil(float64(calibration)/calCPU.Seconds()*slice.Seconds()/float64(conns))) * conns
	res.Shares = perRound * rounds

	sink := &countingSink{target: int64(res.Shares), done: make(chan struct{})}
	cfg := stratum.DefaultConfig()
	cfg.Coin, cfg.Network, cfg.Instance = "ltc", "regtest", "bench"
	cfg.Vardiff.Start, cfg.Vardiff.Min, cfg.Vardiff.TargetInterval = shareDifficulty, shareDifficulty, 0
	cfg.SubmitsPerSecond = 0
	cfg.MaxBadMessages = math.MaxInt32
	cfg.MaxConnectionsPerIP = 0 // every miner of the benchmark is on 127.0.0.1
	cfg.HandshakeTimeout = time.Minute
	cfg.IdleTimeout = time.Hour
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
	if _, err := miners.expect("ready", 10*time.Minute); err != nil {
		return err
	}
	stopProfile, err := startCPUProfile(os.Getenv("BENCH_STRATUM_CPUPROFILE"))
	if err != nil {
		return err
	}
	defer stopProfile()
	accepted := 0
	for round := 0; round < rounds; round++ {
		hashes, _, rawCPU, err := rawScrypt(w, slice)
		if err != nil {
			return err
		}
		res.RawHashes += hashes
		res.RawCPU += rawCPU
		res.RawRates = append(res.RawRates, float64(hashes)/rawCPU.Seconds())

		runtime.GC() // the raw loop's garbage is not the server's
		cpu0, err := cpuTime()
		if err != nil {
			return err
		}
		start := time.Now()
		if err := miners.send("go %d", perRound/conns); err != nil {
			return err
		}
		answers, err := miners.expect("done", time.Duration(seconds*20)*time.Second)
		if err != nil {
			return err
		}
		wall := time.Since(start)
		cpu1, err := cpuTime()
		if err != nil {
			return err
		}
		var ok, bad int
		if _, err := fmt.Sscan(answers[0]+" "+answers[1], &ok, &bad); err != nil {
			return fmt.Errorf("read miners' answers %v: %w", answers, err)
		}
		accepted += ok
		res.Rejected += bad
		res.ServerCPU += cpu1 - cpu0
		res.ServerWall += wall
		res.OurRates = append(res.OurRates, float64(perRound)/(cpu1-cpu0).Seconds())
		fmt.Fprintf(os.Stderr, "  round %d: raw %.0f H/s, server %.0f shares/s per CPU-second\n",
			round+1, res.RawRates[round], res.OurRates[round])
	}
	if accepted != res.Shares || sink.n.Load() != int64(res.Shares) {
		return fmt.Errorf("miners saw %d shares accepted and the sink %d, of %d sent", accepted, sink.n.Load(), res.Shares)
	}
	if err := miners.stop(); err != nil {
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

// startCPUProfile profiles this process into path until the returned
// function is called; an empty path profiles nothing.
func startCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
