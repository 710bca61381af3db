// Command bench-newwork measures how soon a block found elsewhere reaches
// the pool's miners as clean work: the stratum Source long-polling its
// wallet (BIP 22 getblocktemplate) beside today's mode, the wallet's tip
// polled every 0.5 s without a long poll.
//
// Two real regtest litecoind run peered over P2P: the pool's wallet and
// another node. Two stratum servers work from the pool's wallet, one per
// mode, each with a miner connected. The other node mines a block N
// times (generatetoaddress), after a random pause shorter than the poll
// so that the poll's phase is uniform; for each block and each mode the
// figure is the time from generatetoaddress returning to that mode's
// miner reading mining.notify with clean jobs built on the block. Both
// modes watch the same blocks at once.
//
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

type options struct {
	blocks int
	poll   time.Duration
	wait   time.Duration
}

func main() {
	var o options
	flag.IntVar(&o.blocks, "blocks", 30, "blocks the other node mines, each measured in both modes")
	flag.DurationVar(&o.poll, "poll", 500*time.Millisecond, "the tip poll of both modes (the job's)")
	flag.DurationVar(&o.wait, "wait", 10*time.Second, "how long a block may take to reach a miner before it counts as never")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "bench-newwork:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options, stdout, stderr io.Writer) error {
	if o.blocks < 1 || o.poll <= 0 || o.wait <= 0 {
		return fmt.Errorf("blocks, poll and wait must be positive")
	}
	started := time.Now()
	res, err := measure(ctx, o, stderr)
	if err != nil {
		return err
	}
	return report(stdout, res, time.Since(started))
}
