package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/scryptpool/poolmicrocloud/tools/internal/chain"
	"github.com/scryptpool/poolmicrocloud/tools/internal/stratum"
)

type connsResult struct {
	Impl   string
	Conns  int
	Before memory
	After  memory
	Rounds []pushRound
}

type pushRound struct {
	// PublishReturned is when Publish (or the naive loop) returned;
	// AllReceived when the last miner had read the new job.
	PublishReturned time.Duration
	AllReceived     time.Duration
	Received        int
}

// pushServer is a server under test in the connection phase.
type pushServer interface {
	addr() string
	// prepare returns the id the next job will have and what sends it.
	prepare(w *chain.Work) (string, func())
	connections() int
	close()
}

// connsServer holds many idle miners on one server implementation,
// measures its memory, then pushes new blocks to all of them.
func connsServer() error {
	impl, n, rounds := os.Getenv("BENCH_STRATUM_IMPL"), envInt("CONNS"), envInt("ROUNDS")
	if err := raiseFileLimit(n + 100); err != nil {
		return err
	}
	w0, err := benchWork(0)
	if err != nil {
		return err
	}
	before, err := settledMemory()
	if err != nil {
		return err
	}
	var srv pushServer
	switch impl {
	case "ours":
		srv, err = startOurs(w0, n)
	case "naive":
		var s *naiveServer
		s, err = startNaive(w0)
		srv = naiveAdapter{s}
	default:
		err = fmt.Errorf("unknown server %q", impl)
	}
	if err != nil {
		return err
	}
	defer srv.close()

	miners, err := startChild(context.Background(), "conns-client", map[string]string{
		"ADDR": srv.addr(), "CONNS": strconv.Itoa(n),
	}, os.Stderr)
	if err != nil {
		return err
	}
	defer miners.stop()
	if _, err := miners.expect("ready", 10*time.Minute); err != nil {
		return err
	}
	if got := srv.connections(); got != n {
		return fmt.Errorf("%s server holds %d connections, want %d", impl, got, n)
	}
	time.Sleep(time.Second) // let the last handshakes' buffers go
	after, err := settledMemory()
	if err != nil {
		return err
	}
	res := connsResult{Impl: impl, Conns: n, Before: before, After: after}
	fmt.Fprintf(os.Stderr, "  %s: %d connections, %.1f KiB each (Go), %.1f KiB each (RSS)\n", impl, n,
		float64(after.GoBytes-before.GoBytes)/1024/float64(n), float64(after.RSSBytes-before.RSSBytes)/1024/float64(n))

	for r := 1; r <= rounds; r++ {
		w, err := benchWork(r)
		if err != nil {
			return err
		}
		id, push := srv.prepare(w)
		if err := miners.send("expect %s", id); err != nil {
			return err
		}
		if _, err := miners.expect("armed", time.Minute); err != nil {
			return err
		}
		start := time.Now()
		push()
		returned := time.Since(start)
		got, err := miners.expect("got", 2*time.Minute)
		if err != nil {
			return err
		}
		last, err1 := strconv.ParseInt(got[1], 10, 64)
		count, err2 := strconv.Atoi(got[2])
		if got[0] != id || err1 != nil || err2 != nil {
			return fmt.Errorf("miners answered %v for job %s", got, id)
		}
		round := pushRound{PublishReturned: returned, AllReceived: time.Duration(last - start.UnixNano()), Received: count}
		if count < n {
			fmt.Fprintf(os.Stderr, "  %s push %d: only %d of %d miners within a minute (publish returned after %s)\n", impl, r, count, n,
				returned.Round(time.Microsecond))
		} else {
			fmt.Fprintf(os.Stderr, "  %s push %d: %d miners in %s (publish returned after %s)\n", impl, r, count,
				round.AllReceived.Round(time.Microsecond), returned.Round(time.Microsecond))
		}
		res.Rounds = append(res.Rounds, round)
		time.Sleep(200 * time.Millisecond)
	}
	if err := miners.stop(); err != nil {
		return err
	}
	return printResult(res)
}

type ourServer struct {
	srv    *stratum.Server
	l      net.Listener
	cancel context.CancelFunc
	served chan error
}

func startOurs(w *chain.Work, n int) (*ourServer, error) {
	cfg := stratum.DefaultConfig()
	cfg.Coin, cfg.Network, cfg.Instance = "ltc", "regtest", "bench"
	cfg.Vardiff.Start, cfg.Vardiff.Min, cfg.Vardiff.TargetInterval = shareDifficulty, shareDifficulty, 0
	cfg.MaxConnections = n + 100
	cfg.MaxConnectionsPerIP = 0             // every miner of the benchmark is on 127.0.0.1
	cfg.HandshakeTimeout = 10 * time.Minute // one process opens them all
	cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := stratum.New(cfg, &countingSink{done: make(chan struct{})}, noBlocks{}, nil)
	srv.Publish(w, "bench", true)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &ourServer{srv: srv, l: l, cancel: cancel, served: make(chan error, 1)}
	go func() { s.served <- srv.Serve(ctx, l) }()
	return s, nil
}

func (s *ourServer) addr() string { return s.l.Addr().String() }

func (s *ourServer) prepare(w *chain.Work) (string, func()) {
	id := strconv.FormatUint(s.srv.CurrentJob().Seq+1, 16)
	return id, func() { s.srv.Publish(w, "bench", true) }
}

func (s *ourServer) connections() int { return s.srv.Connections() }

func (s *ourServer) close() {
	s.cancel()
	<-s.served
	ctx, stop := context.WithTimeout(context.Background(), 5*time.Second)
	defer stop()
	s.srv.Shutdown(ctx, "")
}

type naiveAdapter struct{ *naiveServer }

func (a naiveAdapter) addr() string { return a.l.Addr().String() }
