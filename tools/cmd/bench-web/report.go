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
// the error names the targets missed. loads are /proc/loadavg before
// and after the measurements: other work on the machine shows there.
func report(w io.Writer, o options, f filled, targets []target, runs []measured, loads [2]string) error {
	fmt.Fprintf(w, "bench-web: the pool's site (poolweb) on one core, %d concurrent keep-alive clients; measured per page: %s cached, %s uncached, %s at %g req/s offered; %s of warm-up before each\n",
		o.clients, o.duration, o.uncachedDuration, o.pacedDuration, o.rate, o.warmup)
	fmt.Fprintf(w, "machine: %d CPUs, %s; server: a child process under `taskset -c %d` with GOMAXPROCS=1 (Cpus_allowed_list %s), %d database connections;\n",
		runtime.NumCPU(), runtime.Version(), o.serverCPU, runs[0].cpus, o.dbConns)
	fmt.Fprintf(w, "load generator (this process, Go net/http, GOMAXPROCS=1) and PostgreSQL 15 pinned to core %d; load average before %s, after %s\n", o.clientCPU, loads[0], loads[1])
	fmt.Fprintf(w, "data: %d miners, %d workers, %d shares (24 h, one per %s a worker), %d blocks, %d payouts with %d items, %d stats_hourly rows (%d days); filled in %s\n\n",
		f.Miners, f.Workers, f.Shares, o.data.ShareSeconds, f.Blocks, f.Payouts, f.PayoutItems, f.HourlyRows, o.data.Days, f.Took.Round(time.Second))

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "page\tcache\tclients ask\treq/s\tp50\tp99\terrors\tKiB/answer\tlongest unanswered\tserver CPU\tclient CPU\tfirst, alone\t")
	row := func(name string, cached bool, ask string, r result) {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.0f\t%s\t%s\t%d\t%s\t%s\t%.0f%%\t%.0f%%\t%s\t\n", name, cacheWord(cached), ask, r.rate(),
			ms(r.percentile(0.5)), ms(r.percentile(0.99)), r.Errors, kib(r), ms(r.Waiting), 100*r.ServerCPU, 100*r.ClientCPU, ms(r.First))
	}
	for i, t := range targets {
		for _, m := range runs {
			row(t.name, m.cached, "at once", m.results[i])
		}
		if i == 0 {
			row(t.name, true, fmt.Sprintf("%g/s", o.rate), runs[0].paced)
		}
	}
	tw.Flush()
	fmt.Fprintf(w, "(at once: each client asks again as soon as answered, the most the server answers; %g/s: the clients between them ask %g times a second\n"+
		" on a schedule, latency counted from when a request was due; req/s and latencies count the answers that ended in the window;\n"+
		" longest unanswered: the longest wait of a request unanswered when it closed; first, alone: one request before the load, to a\n"+
		" cold cache; CPU: share of one core, as /proc counts it)\n", o.rate, o.rate)
	fmt.Fprintf(w, "(miner page: %s, %d workers)\n", f.BusiestMiner, f.BusiestWorkers)
	for i, t := range targets {
		for _, m := range runs {
			if r := m.results[i]; r.ClientCPU > 0.9 {
				fmt.Fprintf(w, "note: %s, %s: the load generator used %.0f%% of its core: it, not the server, may bound that rate\n",
					t.name, cacheWord(m.cached), 100*r.ClientCPU)
			} else if m.cached && r.ServerCPU < 0.9 {
				fmt.Fprintf(w, "note: %s, cached: neither the server (%.0f%%) nor the load generator (%.0f%%) used its whole core: other processes had the rest\n",
					t.name, 100*r.ServerCPU, 100*r.ClientCPU)
			}
		}
	}
	fmt.Fprintln(w)
	for _, m := range runs {
		fmt.Fprintf(w, "server peak RSS (VmHWM), %s: %.1f MiB\n", cacheWord(m.cached), float64(m.peakRSS)/(1<<20))
	}
	fmt.Fprintf(w, "the memory the web job needs: %.1f MiB (its peak, cached, as the job runs)\n\n", float64(runs[0].peakRSS)/(1<<20))

	var judge verdict.Judge
	front, paced := runs[0].results[0], runs[0].paced
	fmt.Fprintf(w, "front page, cached, clients asking at once: >= %.0f req/s on one core: %s\n", targetRate,
		judge.AtLeast("front page >= 500 req/s", front.rate(), targetRate))
	fmt.Fprintf(w, "front page, cached, %g req/s offered: all served (>= 99%%): %s\n", o.rate,
		judge.AtLeast(fmt.Sprintf("front page serves the %g req/s offered", o.rate), paced.rate(), 0.99*o.rate))
	fmt.Fprintf(w, "front page, cached, %g req/s offered: p99 < %s: %s\n", o.rate, targetP99,
		judge.Check("front page p99 < 100 ms at 500 req/s", len(paced.Latencies) > 0, paced.percentile(0.99) < targetP99))
	fmt.Fprintf(w, "front page, cached, no errors: %s\n", judge.Check("front page without errors",
		front.Requests > 0 && paced.Requests > 0, front.Errors == 0 && paced.Errors == 0))
	if o.rate < targetRate {
		judge.Check(fmt.Sprintf("offered rate %g is the target's %g", o.rate, targetRate), true, false)
		fmt.Fprintf(w, "offered rate %g is below the target's %g: NOT MET\n", o.rate, targetRate)
	}
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
