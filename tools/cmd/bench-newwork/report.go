package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/scryptpool/poolmicrocloud/tools/internal/verdict"
)

// targetMedian is issue 14's: a block found elsewhere reaches miners as
// clean work within this, median.
const targetMedian = 20 * time.Millisecond

// never is the time of a block that did not reach the miner.
const never = time.Duration(math.MaxInt64)

type stats struct {
	median, p90, max time.Duration
	missed           int
}

// summarize is the median, the 90th percentile (nearest rank) and the
// worst of the blocks' times; a block that never came counts as never,
// so a figure it reaches is never too.
func summarize(ds []time.Duration) stats {
	if len(ds) == 0 {
		return stats{never, never, never, 0}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	var st stats
	for _, d := range s {
		if d == never {
			st.missed++
		}
	}
	rank := func(p float64) time.Duration {
		return s[max(0, int(math.Ceil(p*float64(len(s))))-1)]
	}
	st.median, st.p90, st.max = rank(0.5), rank(0.9), s[len(s)-1]
	return st
}

func ms(d time.Duration) string {
	if d == never {
		return "never"
	}
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

// report prints both modes side by side and judges the new one; it fails
// when the target was missed or not measured.
func report(out io.Writer, r *result, took time.Duration) error {
	var judge verdict.Judge
	fmt.Fprintln(out, "bench-newwork: a block found elsewhere until a connected miner reads mining.notify with clean jobs on it")
	fmt.Fprintf(out, "machine: %s; litecoind %s, regtest\n\n", r.machine, r.version)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "mode\tblocks\tmedian\tp90\tmax\tmissed\ttarget\tresult")
	for i, m := range r.modes {
		st := summarize(m.latencies)
		target, result := "baseline", ""
		if i == 0 {
			target = "median < " + ms(targetMedian)
			result = judge.Check("new work on a new block, median", st.median != never && len(m.latencies) > 0, st.median < targetMedian)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%d\t%s\t%s\n", m.name, len(m.latencies), ms(st.median), ms(st.p90), ms(st.max), st.missed, target, result)
	}
	tw.Flush()
	fmt.Fprintf(out, "\nhow: two regtest litecoind peered over P2P, the pool's wallet and another node. Two stratum servers, one per\n")
	fmt.Fprintf(out, "mode, each fed by a stratum.Source from the pool's wallet (Refresh 30 s, RPC timeout 2 s, as `poolctl stratum`)\n")
	fmt.Fprintf(out, "with one miner connected over TCP. The other node mines each block (generatetoaddress) after a random pause\n")
	fmt.Fprintf(out, "shorter than the poll, %d warm-up blocks first; both modes watch the same %d blocks at once. Figure: time\n", warmup, r.blocks)
	fmt.Fprintf(out, "from generatetoaddress returning to the miner reading the first new mining.notify with clean_jobs true whose\n")
	fmt.Fprintf(out, "prevhash is that block (negative: read before the call returned); missed: not within the wait (never).\n")
	fmt.Fprintf(out, "run took %s\n", took.Round(time.Second))
	return judge.Err()
}

func machineFacts() string {
	cpu := "unknown CPU"
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	return fmt.Sprintf("%s, %d CPUs, %s %s/%s", cpu, runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
