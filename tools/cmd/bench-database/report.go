package main

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/scryptpool/poolmicrocloud/tools/internal/verdict"
)

// The targets.
const (
	targetRatio    = 0.80 // share writes with a synchronous standby, of a single instance's
	targetFailover = 30.0 // seconds from the power cut to the first share written on the new primary
)

// report prints the environment and both measurements and judges them;
// it fails when a target was missed or its figure not measured.
func report(out io.Writer, env environment, tp throughput, fo failoverResult) error {
	var judge verdict.Judge
	fmt.Fprintln(out, "bench-database: the pool's PostgreSQL under Patroni, a primary with a synchronous standby beside a single instance")
	fmt.Fprintf(out, "machine: %d CPUs (load average %s at the start), %s, %s, %s;\n", env.cpus, env.load, env.goVersion, env.postgres, env.patroni)
	fmt.Fprintf(out, "every member on this machine, on loopback, data on %s\n", env.filesystem)
	fmt.Fprintf(out, "members: poolctl database member, sized as %s's database job (shared_buffers %d MB, max_connections %d);\n",
		production, env.sharedBuffersMB, env.maxConnections)
	fmt.Fprintf(out, "as the primaries report it: fsync %s, synchronous_commit %s; synchronous_standby_names: single instance %s, replicated %s\n",
		env.synced.fsync, env.synced.synchronousCommit, orNone(env.single.syncStandbyNames), orNone(env.synced.syncStandbyNames))

	ratios := pairedRatios(tp)
	ratio := median(ratios)
	fmt.Fprintf(out, "\nshare writes: %d shares per run through the pool's ledger writer (default batching), %d miners;\n", tp.shares, tp.miners)
	fmt.Fprintf(out, "a warm-up of each, not counted, then runs alternating which goes first\n\n")
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	header := []string{"cluster"}
	for i := range max(len(tp.single), len(tp.synced)) {
		header = append(header, fmt.Sprintf("run %d", i+1))
	}
	fmt.Fprintln(tw, strings.Join(append(header, "median"), "\t"))
	row := func(what string, xs []float64, format func(float64) string) {
		cells := []string{what}
		for _, x := range xs {
			cells = append(cells, format(x))
		}
		for len(cells) < len(header) {
			cells = append(cells, "-")
		}
		fmt.Fprintln(tw, strings.Join(append(cells, format(median(xs))), "\t"))
	}
	row("single instance (1 member, no replica)", tp.single, perSecond)
	row("primary + synchronous standby (2 members)", tp.synced, perSecond)
	row("synchronous / single, run by run", ratios, percent)
	tw.Flush()
	fmt.Fprintf(out, "\ntarget: synchronous at least %.0f%% of the single instance's rate (median of the runs' ratios: %s): %s\n",
		targetRatio*100, percent(ratio), judge.AtLeast(fmt.Sprintf("share writes at least %.0f%% of a single instance's", targetRatio*100), ratio, targetRatio))
	fmt.Fprintf(out, "Each run's ratio sets two runs made one after the other against each other, so that what else the machine\n")
	fmt.Fprintf(out, "does moves both alike. Both members share this machine's CPUs and disk: each commit waits for the standby's\n")
	fmt.Fprintf(out, "WAL flush on the same disk, where Pis would each have their own and a LAN round trip between them.\n")

	fmt.Fprintf(out, "\nfailover: power cut of the primary %s (SIGKILL to Patroni and PostgreSQL with every backend) while a writer\n", fo.primary)
	fmt.Fprintf(out, "is fed %d shares/s, each acknowledged when handed to the writer (as the stratum server acknowledges a miner)\n\n", fo.feedRate)
	tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "%s, the synchronous standby, promoted (answers /primary)\t%s after the cut\t\n", fo.standby, seconds(fo.promoted))
	fmt.Fprintf(tw, "first share acknowledged after the cut, written on %s\t%s after the cut\ttarget under %.0f s: %s\n", fo.standby,
		seconds(fo.firstWrite), targetFailover,
		judge.Check(fmt.Sprintf("failover under %.0f s", targetFailover), verdict.Measured(fo.firstWrite), fo.firstWrite < targetFailover))
	fmt.Fprintf(tw, "shares acknowledged\t%d (%d before the cut)\t\n", fo.acked, fo.ackedBeforeCut)
	fmt.Fprintf(tw, "shares in the new primary\t%s\t\n", count(fo.inPrimary))
	fmt.Fprintf(tw, "acknowledged shares missing\t%s\ttarget 0: %s\n", count(fo.missing),
		judge.Check("0 acknowledged shares lost", fo.missing >= 0, fo.missing == 0))
	fmt.Fprintf(tw, "duplicates (rows beyond one per share)\t%s\ttarget 0: %s\n", count(fo.duplicates),
		judge.Check("0 duplicate shares", fo.duplicates >= 0, fo.duplicates == 0))
	fmt.Fprintf(tw, "shares there never acknowledged\t%s\t\n", count(fo.unexpected))
	fmt.Fprintf(tw, "refused as busy (buffer full; not acknowledged)\t%d\t\n", fo.refused)
	tw.Flush()
	fmt.Fprintf(out, "\nthe writer: %d failed transactions, each retried; %d shares of a retried batch found already stored\n", fo.failedAttempts, fo.rewritten)
	fmt.Fprintf(out, "(its commit reached the standby, its answer died with the primary) and not written again; %d given up.\n", fo.dropped)
	fmt.Fprintf(out, "Times are polled every 100 ms; the first share is looked for on %s itself. The writer retries with its\n", fo.standby)
	fmt.Fprintf(out, "default backoff (0.1 s doubling to 10 s), so a share may wait up to 10 s after the promotion.\n")
	return judge.Err()
}

// pairedRatios are each run's synchronous rate over the single
// instance's of the same run.
func pairedRatios(tp throughput) []float64 {
	n := min(len(tp.single), len(tp.synced))
	out := make([]float64, n)
	for i := range n {
		out[i] = tp.synced[i] / tp.single[i]
	}
	return out
}

// median of the runs; NaN without any.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func perSecond(r float64) string {
	if !verdict.Measured(r) {
		return "not measured"
	}
	return fmt.Sprintf("%.0f/s", r)
}

func percent(r float64) string {
	if !verdict.Measured(r) {
		return "not measured"
	}
	return fmt.Sprintf("%.0f%%", r*100)
}

func seconds(s float64) string {
	if !verdict.Measured(s) {
		return "not within the wait"
	}
	return fmt.Sprintf("%.1f s", s)
}

func count(n int64) string {
	if n < 0 {
		return "not counted"
	}
	return fmt.Sprint(n)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
