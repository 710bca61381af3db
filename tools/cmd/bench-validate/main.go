// Command bench-validate measures the offline check of the pool's jobs
// against the round trip it replaces, side by side in one run:
//
//   - poolctl's validate+render of the production example, in process: the
//     pool definition's rules, the capacity model with every node-loss
//     case, and all jobs written as HCL;
//   - the same as two poolctl processes (validate, then render), as an
//     operator runs them;
//   - the baseline: `nomad job validate` of the same rendered files through
//     the nomad CLI against a real local agent.
//
// Target (issue 3): the full offline check under 100 ms and at least ten
// times faster than the CLI round trip, both judged on the two processes an
// operator runs. Run it with `task bench`; it needs root for the local
// agent. Exit codes: 0 every target met, 1 a target missed or not measured
// (the figures are printed all the same) or the run failed.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	"github.com/scryptpool/poolmicrocloud/tools/internal/binaries"
	"github.com/scryptpool/poolmicrocloud/tools/internal/cluster"
	"github.com/scryptpool/poolmicrocloud/tools/internal/jobspec"
	"github.com/scryptpool/poolmicrocloud/tools/internal/validate"
	"github.com/scryptpool/poolmicrocloud/tools/internal/verdict"
)

const (
	example     = "examples/home-12pi/pool.hcl"
	inProcRuns  = 200
	processRuns = 20
	cliRuns     = 5
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench-validate:", err)
		os.Exit(1)
	}
}

type result struct {
	what   string
	runs   int
	median time.Duration
	min    time.Duration
}

func measure(what string, runs int, f func() error) (result, error) {
	times := make([]time.Duration, 0, runs)
	for i := 0; i < runs; i++ {
		start := time.Now()
		if err := f(); err != nil {
			return result{}, fmt.Errorf("%s: %w", what, err)
		}
		times = append(times, time.Since(start))
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	return result{what: what, runs: runs, median: times[len(times)/2], min: times[0]}, nil
}

func run() error {
	// Ctrl-C ends the run but still stops the agents it started.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	nomadBin, consulBin, err := binaries.EnsureAgents(ctx, os.Stderr)
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "bench-validate-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	poolctl, err := binaries.BuildPoolctl(work)
	if err != nil {
		return err
	}

	r := validate.File(example)
	if !r.OK() {
		return fmt.Errorf("%s is not valid", example)
	}
	jobsDir := filepath.Join(work, "jobs")
	files, err := jobspec.WriteFiles(jobsDir, r.Pool.Name, r.Jobs, false)
	if err != nil {
		return err
	}

	inProc, err := measure("poolctl validate+render, in process", inProcRuns, func() error {
		res := validate.File(example)
		if !res.OK() {
			return fmt.Errorf("invalid")
		}
		for _, j := range res.Jobs {
			if len(j.HCL(res.Pool.Name)) == 0 {
				return fmt.Errorf("empty job file")
			}
		}
		return nil
	})
	if err != nil {
		return err
	}

	procs, err := measure("poolctl validate + poolctl render -o DIR (2 processes)", processRuns, func() error {
		if out, err := exec.Command(poolctl, "validate", "-q", example).CombinedOutput(); err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		out, err := exec.Command(poolctl, "render", "-o", filepath.Join(work, "render"), example).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	})
	if err != nil {
		return err
	}

	fmt.Fprintln(os.Stderr, "starting a local Nomad agent for the baseline")
	c, err := cluster.Up(ctx, cluster.Spec{
		StateDir:  filepath.Join(work, "cluster"),
		Slot:      -1,
		NomadBin:  nomadBin,
		ConsulBin: consulBin,
	})
	if err != nil {
		return fmt.Errorf("start a local cluster for the baseline: %w", err)
	}
	defer func() {
		if err := c.Down(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, "stop the local cluster:", err)
		}
	}()
	baseline, err := measure(fmt.Sprintf("nomad job validate, %d files via the CLI (baseline)", len(files)), cliRuns, func() error {
		for _, f := range files {
			cmd := exec.Command(nomadBin, "job", "validate", f)
			cmd.Env = append(os.Environ(), "NOMAD_ADDR="+c.NomadAddr())
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("%s: %v: %s", f, err, out)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}

	return report(os.Stdout, len(r.Jobs), len(r.Capacity.Nodes), inProc, procs, baseline)
}

const (
	targetCheck   = 100 * time.Millisecond
	targetSpeedup = 10.0
)

// report prints the figures and judges the targets on the two-process
// figure, the one an operator sees; it fails when a target was missed or
// a figure not measured.
func report(out io.Writer, jobs, nodes int, inProc, procs, baseline result) error {
	fmt.Fprintf(out, "\nFull offline check of the production example: %d jobs on a %d-node cluster model, every node-loss case up to the first that breaks\n\n", jobs, nodes)
	fmt.Fprintf(out, "%-62s %6s %12s %12s\n", "", "runs", "median", "fastest")
	for _, res := range []result{inProc, procs, baseline} {
		fmt.Fprintf(out, "%-62s %6d %12s %12s\n", res.what, res.runs, round(res.median), round(res.min))
	}
	speedup := float64(baseline.median) / float64(inProc.median)
	processSpeedup := float64(baseline.median) / float64(procs.median)
	fmt.Fprintf(out, "\nspeed-up over the CLI round trip: %.0fx in process, %.1fx as two processes\n", speedup, processSpeedup)
	var judge verdict.Judge
	fmt.Fprintf(out, "target, as two processes: under %s (%s: %s) and at least %.0fx faster (%.1fx: %s)\n",
		round(targetCheck), round(procs.median),
		judge.Check("full offline check under "+round(targetCheck), procs.median > 0, procs.median < targetCheck),
		targetSpeedup, processSpeedup,
		judge.Check(fmt.Sprintf("at least %.0fx faster than the CLI round trip", targetSpeedup), procs.median > 0 && baseline.median > 0, processSpeedup >= targetSpeedup))
	return judge.Err()
}

func round(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	default:
		return d.Round(10 * time.Microsecond).String()
	}
}
