package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/scryptpool/poolmicrocloud/tools/internal/verdict"
)

const (
	targetTime   = time.Second
	targetMemory = 100.0 // MiB, this process's heap and the database's processes together
)

// report prints both approaches' figures and judges ours; it fails when a
// target was missed or its figure not measured.
func report(out io.Writer, ours, naive figure) error {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "approach\ttime\tpeak Go heap\tpeak database private\ttogether\tparallel workers\tshared buffers the backend touched\tcredits")
	for _, row := range []struct {
		what string
		f    figure
	}{
		{"ours: window found and summed in PostgreSQL, credits written", ours},
		{"naive: every share read into memory, recomputed (credits not written)", naive},
	} {
		f := row.f
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%d\n", row.what, f.wall.Round(time.Millisecond),
			mibs(f.heap), mibs(f.db), mibs(f.heap+f.db), f.workers, mibs(f.shared), f.credits)
	}
	tw.Flush()

	var judge verdict.Judge
	memory := ours.heap + ours.db
	fmt.Fprintf(out, "\ntarget (ours): under %s (%s: %s), under %.0f MiB with the database's processes (%s: %s)\n",
		targetTime, ours.wall.Round(time.Millisecond),
		judge.Check(fmt.Sprintf("time under %s", targetTime), ours.wall > 0, ours.wall < targetTime),
		targetMemory, mibs(memory),
		judge.Check(fmt.Sprintf("memory under %.0f MiB", targetMemory), verdict.Measured(ours.heap) && verdict.Measured(ours.db), memory < targetMemory))
	fmt.Fprintf(out, "\ntime: the median run; memory: the highest of the runs. Both divide the same %d units among the same\n", ours.units)
	fmt.Fprintf(out, "%d miners. Ours includes writing %d credits and balances in one transaction (rolled back after each run);\n", ours.credits, ours.credits)
	fmt.Fprintf(out, "the naive figure leaves writing out. Database private = resident anonymous memory (RssAnon) of the run's\n")
	fmt.Fprintf(out, "backend and its parallel workers, sampled every 2 ms; shared buffers are a cache of fixed size, not counted.\n")
	return judge.Err()
}

func mibs(m float64) string {
	if !verdict.Measured(m) {
		return "not measured"
	}
	return fmt.Sprintf("%.1f MiB", m)
}
