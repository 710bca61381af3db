// Command bench-database measures the pool's replicated PostgreSQL (issue
// 15) in one run, against real Patroni members started here (`poolctl
// database member`, as the database job runs them, with the production
// example's sizing; fsync on) on a Consul dev agent:
//
//   - share writes per second through the pool's ledger writer, with the
//     batching the stratum server runs it with, on a primary with a
//     synchronous standby beside a single instance with no replica, in
//     alternating runs;
//   - a power cut of the primary (SIGKILL to Patroni and to PostgreSQL
//     with every backend) while a writer is fed shares at a steady rate,
//     each share acknowledged when handed to the writer, as the stratum
//     server acknowledges a miner before the write: seconds until the
//     standby is promoted and until the first share submitted after the
//     cut is written there, and every acknowledged share looked for in the
//     new primary.
//
// It runs members as the postgres OS user: run it as root, from the
// repository's top directory (`task bench:database`, a few minutes).
// Exit codes: 0 every target met, 1 a target missed or not measured (the
// figures are printed all the same) or the run failed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/scryptpool/poolmicrocloud/tools/internal/binaries"
	"github.com/scryptpool/poolmicrocloud/tools/internal/localdb"
)

func main() {
	var o options
	flag.IntVar(&o.shares, "shares", 200_000, "shares written per run of the write benchmark")
	flag.IntVar(&o.runs, "runs", 5, "runs on each cluster, alternating (the median is judged)")
	flag.IntVar(&o.miners, "miners", 100, "miner addresses the shares are spread over")
	flag.IntVar(&o.feedRate, "feed-rate", 1000, "shares per second fed to the writer across the power cut")
	flag.DurationVar(&o.patience, "patience", 90*time.Second, "how long to wait for the new primary and its first share")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench-database:", err)
		os.Exit(1)
	}
}

type options struct {
	shares, runs, miners, feedRate int
	patience                       time.Duration
}

func run(ctx context.Context, o options) (err error) {
	if o.shares < 1 || o.runs < 1 || o.miners < 1 || o.feedRate < 100 || o.patience <= 0 {
		return errors.New("shares, runs and miners must be positive, feed-rate at least 100 and patience positive")
	}
	started := time.Now()
	if err := localdb.Check(); err != nil {
		return err
	}
	env := environment{cpus: runtime.NumCPU(), goVersion: runtime.Version(), load: loadAverage()}
	if env.postgres, env.patroni, err = localdb.Versions(ctx); err != nil {
		return err
	}
	if env.sharedBuffersMB, env.maxConnections, err = productionSizing(); err != nil {
		return err
	}
	consulBin, err := binaries.Ensure(ctx, binaries.Consul, os.Stderr)
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "bench-db-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	env.filesystem = filesystem(work)
	poolctl, err := binaries.BuildPoolctl(work)
	if err != nil {
		return err
	}

	consulDir := filepath.Join(work, "consul")
	if err := os.Mkdir(consulDir, 0o700); err != nil {
		return err
	}
	waitCtx, cancel := context.WithTimeout(ctx, time.Minute)
	consul, err := localdb.StartConsul(waitCtx, localdb.ConsulOptions{Bin: consulBin, Dir: consulDir})
	cancel()
	if err != nil {
		return err
	}
	defer consul.Stop()

	// Both clusters run throughout, so that the runs can alternate; the
	// one not measured idles (Patroni's loop every 5 s).
	single, err := startCluster(work, "single", consul.Addr, poolctl, env, "pi-01")
	if err != nil {
		return err
	}
	// Only a failed run dumps the members' logs, not a missed target.
	measured := false
	failed := func() bool { return err != nil && !measured }
	defer stopCluster(single, failed)
	synced, err := startCluster(work, "synced", consul.Addr, poolctl, env, "pi-01", "pi-02")
	if err != nil {
		return err
	}
	defer stopCluster(synced, failed)

	fmt.Fprintln(os.Stderr, "waiting for a primary alone, and for a primary with its synchronous standby...")
	if _, _, err := ready(ctx, single, 3*time.Minute); err != nil {
		return fmt.Errorf("the single instance: %w", err)
	}
	if _, _, err := ready(ctx, synced, 3*time.Minute); err != nil {
		return fmt.Errorf("the replicated cluster: %w", err)
	}
	if env.single, err = readSettings(ctx, single.DSN()); err != nil {
		return fmt.Errorf("the single instance: %w", err)
	}
	if env.synced, err = readSettings(ctx, synced.DSN()); err != nil {
		return fmt.Errorf("the replicated cluster: %w", err)
	}
	// The pool runs with fsync on; a figure without it would flatter
	// both clusters and hide the cost of a commit.
	for _, s := range []settings{env.single, env.synced} {
		if s.fsync != "on" || s.synchronousCommit != "on" {
			return fmt.Errorf("the servers must run as the pool's do: fsync %q, synchronous_commit %q", s.fsync, s.synchronousCommit)
		}
	}
	if env.synced.syncStandbyNames == "" {
		return errors.New("the replicated cluster's primary names no synchronous standby")
	}

	tp, err := measureWrites(ctx, o, single, synced)
	if err != nil {
		return err
	}
	fo, err := measureFailover(ctx, o, synced)
	if err != nil {
		return err
	}
	measured = true
	fmt.Println()
	err = report(os.Stdout, env, tp, fo)
	fmt.Printf("\nrun took %s\n", time.Since(started).Round(time.Second))
	return err
}

// startCluster starts members in a directory of their own, sized as the
// production example's database job sizes them.
func startCluster(work, name, consulAddr, poolctl string, env environment, members ...string) (*localdb.Cluster, error) {
	dir := filepath.Join(work, name)
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, err
	}
	c, err := localdb.Start(localdb.Options{
		Dir: dir, ConsulAddr: consulAddr, Pool: "bench-" + name, Names: members, Poolctl: poolctl,
		SharedBuffersMB: env.sharedBuffersMB, MaxConnections: env.maxConnections,
	})
	if err != nil {
		return nil, fmt.Errorf("start the %s cluster: %w", name, err)
	}
	return c, nil
}

// stopCluster kills the members; when the run failed, their logs say why.
func stopCluster(c *localdb.Cluster, failed func() bool) {
	if failed() {
		for _, m := range c.Members {
			fmt.Fprintf(os.Stderr, "--- %s (%s), log tail:\n%s\n", m.Name, m.Dir, m.LogTail())
		}
	}
	if err := c.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stop the members:", err)
	}
}

// ready waits until one member answers /primary and, with two, the other
// answers /sync: each by its own REST API.
func ready(ctx context.Context, c *localdb.Cluster, limit time.Duration) (primary, standby *localdb.Member, err error) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		for i, m := range c.Members {
			if !m.Answers("/primary") {
				continue
			}
			if len(c.Members) == 1 {
				return m, nil, nil
			}
			other := c.Members[1-i]
			if other.Answers("/sync") {
				return m, other, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, nil, fmt.Errorf("no primary (and synchronous standby) within %s: %w", limit, ctx.Err())
		case <-tick.C:
		}
	}
}
