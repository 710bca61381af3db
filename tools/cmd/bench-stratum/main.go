// Command bench-stratum prints the three figures of the stratum issue,
// each side by side with a baseline measured in the same run:
//
//   - shares validated per CPU-second by the full server path (TCP, JSON,
//     job lookup, duplicate check, scrypt, a counting sink) against a bare
//     loop of chain.ScryptHash: the protocol's overhead;
//   - server memory per idle, authorized connection at 10,000 connections,
//     against the simplest goroutine-per-connection server with 4 KiB
//     bufio reader and writer;
//   - time from a new block's Publish until all 10,000 miners hold the
//     mining.notify, against a sequential write loop without deadlines.
//
// Every server runs in its own process, started by this one, so one
// figure's garbage never counts in another's; the miners run in yet
// another process, so their memory and CPU are not the server's.
// Exit codes: 0 every target met, 1 a target missed or not measured (the
// figures are printed all the same) or the run failed.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// roleEnv names the part a re-executed copy of this program plays.
const roleEnv = "BENCH_STRATUM_ROLE"

type options struct {
	conns        int
	rounds       int
	shareSeconds float64
	submitConns  int
	shareRounds  int
	cpuProfile   string
}

func main() {
	if role := os.Getenv(roleEnv); role != "" {
		if err := runRole(role); err != nil {
			fmt.Fprintf(os.Stderr, "bench-stratum %s: %v\n", role, err)
			os.Exit(1)
		}
		return
	}
	var opts options
	flag.IntVar(&opts.conns, "conns", 10000, "idle miner connections for the memory and push figures")
	flag.IntVar(&opts.rounds, "rounds", 5, "new blocks pushed to all connections")
	flag.Float64Var(&opts.shareSeconds, "share-seconds", 5, "roughly how long the share phase submits")
	flag.IntVar(&opts.submitConns, "submit-conns", 4, "miner connections submitting shares")
	flag.IntVar(&opts.shareRounds, "share-rounds", 10, "alternating rounds of raw hashing and share validation")
	flag.StringVar(&opts.cpuProfile, "cpuprofile", "", "write a CPU profile of the share server's measured phase to this file")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, opts, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "bench-stratum:", err)
		os.Exit(1)
	}
}

func runRole(role string) error {
	switch role {
	case "shares-server":
		return sharesServer()
	case "shares-client":
		return sharesClient()
	case "conns-server":
		return connsServer()
	case "conns-client":
		return connsClient()
	}
	return fmt.Errorf("unknown role %q", role)
}

func run(ctx context.Context, opts options, stdout, stderr io.Writer) error {
	if opts.conns < 1 || opts.rounds < 1 || opts.shareSeconds <= 0 || opts.submitConns < 1 || opts.shareRounds < 1 {
		return fmt.Errorf("conns, rounds, share-seconds, submit-conns and share-rounds must be positive")
	}
	started := time.Now()
	var shares sharesResult
	fmt.Fprintln(stderr, "share phase: raw scrypt and the server on one core, in alternating rounds")
	err := runServerRole(ctx, "shares-server", map[string]string{
		"SECONDS": fmt.Sprint(opts.shareSeconds), "CONNS": fmt.Sprint(opts.submitConns),
		"ROUNDS": fmt.Sprint(opts.shareRounds), "CPUPROFILE": opts.cpuProfile,
	}, stderr, &shares)
	if err != nil {
		return err
	}
	var ours, naive connsResult
	fmt.Fprintf(stderr, "connection phase: our server, %d miners\n", opts.conns)
	err = runServerRole(ctx, "conns-server", map[string]string{
		"IMPL": "ours", "CONNS": fmt.Sprint(opts.conns), "ROUNDS": fmt.Sprint(opts.rounds),
	}, stderr, &ours)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "connection phase: naive server, %d miners\n", opts.conns)
	err = runServerRole(ctx, "conns-server", map[string]string{
		"IMPL": "naive", "CONNS": fmt.Sprint(opts.conns), "ROUNDS": fmt.Sprint(opts.rounds),
	}, stderr, &naive)
	if err != nil {
		return err
	}
	return printReport(stdout, machineFacts(), shares, ours, naive, time.Since(started))
}
