package main

import (
	"fmt"
	"io"
	"math"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/scryptpool/poolmicrocloud/tools/internal/verdict"
)

const (
	targetShareRatio  = 0.90
	targetConnKiB     = 16.0
	targetPushLatency = 200 * time.Millisecond
)

// never is the push time of a round in which some miner did not get the
// job: that round measured nothing.
const never = time.Duration(math.MaxInt64)

func perConnKiB(r connsResult, rss bool) float64 {
	before, after := r.Before.GoBytes, r.After.GoBytes
	if rss {
		before, after = r.Before.RSSBytes, r.After.RSSBytes
	}
	return (float64(after) - float64(before)) / 1024 / float64(r.Conns)
}

// pushStats are the median and the worst of the rounds' times until the
// last miner had the job (never when a round missed a miner or there was
// no round), the median time Publish took to return, and how many rounds
// missed a miner.
func pushStats(r connsResult) (median, worst time.Duration, returned time.Duration, short int) {
	if len(r.Rounds) == 0 {
		return never, never, never, 0
	}
	all := make([]time.Duration, 0, len(r.Rounds))
	rets := make([]time.Duration, 0, len(r.Rounds))
	for _, round := range r.Rounds {
		d := round.AllReceived
		if round.Received < r.Conns || r.Conns < 1 || d <= 0 {
			d = never
			short++
		}
		all = append(all, d)
		rets = append(rets, round.PublishReturned)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	sort.Slice(rets, func(i, j int) bool { return rets[i] < rets[j] })
	return all[len(all)/2], all[len(all)-1], rets[len(rets)/2], short
}

// pushVerdict judges a push time: a round that missed a miner measured
// nothing.
func pushVerdict(j *verdict.Judge, target string, d time.Duration) string {
	return j.Check(target, d != never, d <= targetPushLatency)
}

func ms(d time.Duration) string {
	if d == never {
		return "never"
	}
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

// printReport prints the figures and the verdicts; it fails when a target
// was missed or its figure not measured.
func printReport(out io.Writer, m machine, s sharesResult, ours, naive connsResult, took time.Duration) error {
	var judge verdict.Judge
	fmt.Fprintln(out, "bench-stratum: stratum server figures, each beside its baseline from the same run")
	fmt.Fprintf(out, "machine: %s, %d CPUs, GOMAXPROCS %d, %s %s\n\n", m.CPU, m.CPUs, m.GOMAXPROCS, m.Go, m.OS)

	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\tours\tbaseline\ttarget\tresult")
	ratio := s.oursPerCPUSecond() / s.rawPerCPUSecond()
	fmt.Fprintf(tw, "1. shares validated per CPU-second\t%.0f shares/s\t%.0f H/s raw scrypt\t>= %.0f%% of raw\t%.1f%% of raw: %s\n",
		s.oursPerCPUSecond(), s.rawPerCPUSecond(), targetShareRatio*100, ratio*100, judge.AtLeast("shares validated per CPU-second", ratio, targetShareRatio))
	goOurs, goNaive := perConnKiB(ours, false), perConnKiB(naive, false)
	rssOurs, rssNaive := perConnKiB(ours, true), perConnKiB(naive, true)
	fmt.Fprintf(tw, "2. memory per idle connection, Go runtime\t%.1f KiB\t%.1f KiB naive server\t<= %.0f KiB\t%s\n",
		goOurs, goNaive, targetConnKiB, judge.AtMost("memory per idle connection, Go runtime", goOurs, targetConnKiB))
	fmt.Fprintf(tw, "   memory per idle connection, RSS\t%.1f KiB\t%.1f KiB naive server\t<= %.0f KiB\t%s\n",
		rssOurs, rssNaive, targetConnKiB, judge.AtMost("memory per idle connection, RSS", rssOurs, targetConnKiB))
	oMed, oMax, oRet, oShort := pushStats(ours)
	nMed, nMax, nRet, nShort := pushStats(naive)
	fmt.Fprintf(tw, "3. new block to all %d miners, median\t%s\t%s naive loop\t<= %s\t%s\n",
		ours.Conns, ms(oMed), ms(nMed), ms(targetPushLatency), pushVerdict(&judge, "new block to all miners, median", oMed))
	fmt.Fprintf(tw, "   new block to all %d miners, worst of %d\t%s\t%s naive loop\t<= %s\t%s\n",
		ours.Conns, len(ours.Rounds), ms(oMax), ms(nMax), ms(targetPushLatency), pushVerdict(&judge, "new block to all miners, worst", oMax))
	fmt.Fprintf(tw, "   Publish returned, median\t%s\t%s naive loop\t\t\n", ms(oRet), ms(nRet))
	tw.Flush()

	fmt.Fprintf(out, "\nhow:\n")
	fmt.Fprintf(out, "  1. raw: chain.ScryptHash over an 80-byte header in a loop on one goroutine, GOMAXPROCS=1: %d hashes in %.2fs CPU.\n", s.RawHashes, s.RawCPU.Seconds())
	fmt.Fprintf(out, "     %d rounds, each a slice of raw hashing then a batch of shares for the server, so the machine's drift is in\n", s.Rounds)
	fmt.Fprintf(out, "     both; per round raw %s H/s, ours %s shares/s.\n", spread(s.RawRates), spread(s.OurRates))
	fmt.Fprintf(out, "     ours: stratum.Server with GOMAXPROCS=%d, vardiff and submit limits off, a counting sink (no database);\n", s.ServerMaxProcs)
	fmt.Fprintf(out, "     %d pre-solved valid shares over %d TCP connections from a separate miner process, each connection's batch\n", s.Shares, s.SubmitConns)
	fmt.Fprintf(out, "     sent at once; %d accepted, %d rejected;\n", s.Shares, s.Rejected)
	fmt.Fprintf(out, "     server process CPU (getrusage, user+system) %.2fs over %.2fs wall.\n", s.ServerCPU.Seconds(), s.ServerWall.Seconds())
	fmt.Fprintf(out, "  2. %d miners subscribed and authorized from a separate process; server process measured after GC and\n", ours.Conns)
	fmt.Fprintf(out, "     returning free memory, before the listener opened and with all miners idle. Go runtime = Sys - HeapReleased.\n")
	fmt.Fprintf(out, "     naive: goroutine per connection, bufio.NewReader + bufio.NewWriter (4 KiB each), JSON lines.\n")
	fmt.Fprintf(out, "  3. time from calling Publish (naive: a loop writing to each miner in turn, no deadlines) until the last of\n")
	fmt.Fprintf(out, "     the %d miners read the job (wall clock, same machine); the miners share the machine's CPUs with the server.\n", ours.Conns)
	if oShort+nShort > 0 {
		fmt.Fprintf(out, "  rounds that did not reach every miner within a minute (counted as never): ours %d, naive %d\n", oShort, nShort)
	}
	fmt.Fprintf(out, "run took %s\n", took.Round(time.Second))
	return judge.Err()
}

// spread is the lowest..highest of per-round rates.
func spread(rates []float64) string {
	if len(rates) == 0 {
		return "-"
	}
	lo, hi := rates[0], rates[0]
	for _, r := range rates {
		lo, hi = min(lo, r), max(hi, r)
	}
	return fmt.Sprintf("%.0f..%.0f", lo, hi)
}
