package main

import (
	"fmt"
	"io"
	"runtime"
	"text/tabwriter"
	"time"

	"github.com/scryptpool/poolmicrocloud/tools/internal/verdict"
)

// The targets for the front page, cached, on one core.
const (
	targetRate = 500.0
	targetP99  = 100 * time.Millisecond
)

// report prints the figures, cached beside uncached, and the verdicts;
// the error names the targets missed.
func report(w io.Writer, o options, f filled, targets []target, runs []measured) error {
	fmt.Fprintf(w, "bench-web: the pool's site (poolweb) on one core, %d concurrent keep-alive clients, %s measured per page cached (%s uncached) after %s of warm-up\n",
		o.clients, o.duration, o.uncachedDuration, o.warmup)
	fmt.Fprintf(w, "machine: %d CPUs, %s; server: a child process under `taskset -c %d` with GOMAXPROCS=1 (Cpus_allowed_list %s), %d database connections;\n",
		runtime.NumCPU(), runtime.Version(), o.serverCPU, runs[0].cpus, o.dbConns)
	fmt.Fprintf(w, "load generator (Go net/http, GOMAXPROCS=1) and PostgreSQL 15 pinned to core %d\n", o.clientCPU)
	fmt.Fprintf(w, "data: %d miners, %d workers, %d shares (24 h, one per %s a worker), %d blocks, %d payouts with %d items, %d stats_hourly rows (%d days); filled in %s\n\n",
		f.Miners, f.Workers, f.Shares, o.data.ShareSeconds, f.Blocks, f.Payouts, f.PayoutItems, f.HourlyRows, o.data.Days, f.Took.Round(time.Second))

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "page\tcache\treq/s\tp50\tp99\terrors\tKiB/answer\tlongest unanswered\tserver CPU\tclient CPU\tfirst, alone\t")
	for i, t := range targets {
		for _, m := range runs {
			r := m.results[i]
			fmt.Fprintf(tw, "%s\t%s\t%.0f\t%s\t%s\t%d\t%s\t%s\t%.0f%%\t%.0f%%\t%s\t\n", t.name, cacheWord(m.cached), r.rate(),
				ms(r.percentile(0.5)), ms(r.percentile(0.99)), r.Errors, kib(r), ms(r.Waiting), 100*r.ServerCPU, 100*r.ClientCPU, ms(r.First))
		}
	}
	tw.Flush()
	for i, t := range targets {
		for _, m := range runs {
			if r := m.results[i]; r.ClientCPU > 0.9 {
				fmt.Fprintf(w, "note: %s, %s: the load generator used %.0f%% of its core: it, not the server, may bound that rate\n",
					t.name, cacheWord(m.cached), 100*r.ClientCPU)
			}
		}
	}
	fmt.Fprintf(w, "(req/s and latencies count the answers that ended in the window; longest unanswered: the longest wait of a request unanswered when it closed;\n first, alone: one request before the load, to a cold cache; CPU: share of one core)\n")
	fmt.Fprintf(w, "(miner page: %s, %d workers)\n\n", f.BusiestMiner, f.BusiestWorkers)
	for _, m := range runs {
		fmt.Fprintf(w, "server peak RSS (VmHWM), %s: %.1f MiB\n", cacheWord(m.cached), float64(m.peakRSS)/(1<<20))
	}
	fmt.Fprintf(w, "the memory the web job needs: %.1f MiB (its peak, cached, as the job runs)\n\n", float64(runs[0].peakRSS)/(1<<20))

	var judge verdict.Judge
	front := runs[0].results[0]
	fmt.Fprintf(w, "front page, cached, >= %.0f req/s on one core: %s\n", targetRate, judge.AtLeast("front page >= 500 req/s", front.rate(), targetRate))
	fmt.Fprintf(w, "front page, cached, p99 < %s: %s\n", targetP99, judge.Check("front page p99 < 100 ms",
		len(front.Latencies) > 0, front.percentile(0.99) < targetP99))
	fmt.Fprintf(w, "front page, cached, no errors: %s\n", judge.Check("front page without errors", front.Requests > 0, front.Errors == 0))
	return judge.Err()
}

func cacheWord(cached bool) string {
	if cached {
		return "cached"
	}
	return "uncached"
}

// ms formats a latency in milliseconds; "-" when nothing was measured.
func ms(d time.Duration) string {
	if d < 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

// kib is the mean size of the answers; "-" without any.
func kib(r result) string {
	if r.Requests == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", float64(r.Bytes)/float64(r.Requests)/1024)
}
