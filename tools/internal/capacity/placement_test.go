package capacity_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	nomadapi "github.com/hashicorp/nomad/api"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/capacity"
	"github.com/scryptpool/poolmicrocloud/tools/internal/cluster"
	"github.com/scryptpool/poolmicrocloud/tools/internal/config"
	"github.com/scryptpool/poolmicrocloud/tools/internal/jobspec"
	"github.com/scryptpool/poolmicrocloud/tools/internal/testenv"
)

// placeholder keeps what the scheduler looks at (resources, ports, host
// volumes, spread, constraints) and swaps what would run for a sleep under
// raw_exec: placement is the question, not mainnet litecoind on a test box.
// Periodic jobs become plain batch jobs so that they are placed now, as the
// capacity model counts them.
func placeholder(j *jobspec.Job) *nomadapi.Job {
	job := *j.Job
	job.Periodic = nil
	job.Update = nil
	groups := make([]*nomadapi.TaskGroup, 0, len(job.TaskGroups))
	for _, g := range job.TaskGroups {
		gc := *g
		gc.Services = nil
		var tasks []*nomadapi.Task
		for _, t := range g.Tasks {
			tc := *t
			// raw_exec may not run tasks as root on these clusters.
			tc.Driver, tc.User = "raw_exec", "nobody"
			tc.Services, tc.Templates, tc.VolumeMounts, tc.Env = nil, nil, nil, nil
			tc.Config = map[string]any{"command": "/bin/sleep", "args": []string{"3600"}}
			if t.Lifecycle != nil {
				tc.Config = map[string]any{"command": "/bin/true"}
			}
			tasks = append(tasks, &tc)
		}
		gc.Tasks = tasks
		groups = append(groups, &gc)
	}
	job.TaskGroups = groups
	return &job
}

// variant writes the production example with replacements applied.
func variant(t *testing.T, replacements ...string) string {
	t.Helper()
	src, err := os.ReadFile(testenv.Example(t, "home-12pi"))
	require.NoError(t, err)
	out := string(src)
	for i := 0; i < len(replacements); i += 2 {
		require.Contains(t, out, replacements[i])
		out = strings.Replace(out, replacements[i], replacements[i+1], 1)
	}
	path := filepath.Join(t.TempDir(), "pool.hcl")
	require.NoError(t, os.WriteFile(path, []byte(out), 0o644))
	return path
}

// unplaced registers the jobs in deployment order, each after the one
// before was evaluated, and counts per job what the scheduler could not
// place.
func unplaced(t *testing.T, nomad *nomadapi.Client, jobs []*jobspec.Job) map[string]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out := map[string]int{}
	for _, j := range jobs {
		resp, _, err := nomad.Jobs().Register(placeholder(j), nil)
		require.NoError(t, err)
		eval := waitEval(ctx, t, nomad, resp.EvalID)
		for _, m := range eval.FailedTGAllocs {
			out[j.ID()] += m.CoalescedFailures + 1
		}
	}
	return out
}

// logPlacement shows where Nomad put each allocation beside the model's
// placement, for a mismatch to be read from the test's output.
func logPlacement(t *testing.T, nomad *nomadapi.Client, report *capacity.Report) {
	t.Helper()
	nodes, _, err := nomad.Nodes().List(nil)
	require.NoError(t, err)
	names := map[string]string{}
	for _, n := range nodes {
		names[n.ID] = n.Name
	}
	allocs, _, err := nomad.Allocations().List(nil)
	require.NoError(t, err)
	for _, a := range allocs {
		if a.DesiredStatus == "run" {
			t.Logf("nomad: %s on %s", a.Name, names[a.NodeID])
		}
	}
	for demand, i := range report.All.Assigned {
		t.Logf("model: %s on %s", demand, report.All.Nodes[i].Name)
	}
	for _, f := range report.All.Failures {
		t.Logf("model: %s", f)
	}
}

func waitEval(ctx context.Context, t *testing.T, nomad *nomadapi.Client, id string) *nomadapi.Evaluation {
	t.Helper()
	var index uint64
	for {
		eval, meta, err := nomad.Evaluations().Info(id, (&nomadapi.QueryOptions{WaitIndex: index}).WithContext(ctx))
		require.NoError(t, err)
		if eval.Status == "complete" || eval.Status == "failed" {
			return eval
		}
		index = meta.LastIndex
	}
}

// modelUnplaced is the same count from the capacity model.
func modelUnplaced(r *capacity.Report) map[string]int {
	out := map[string]int{}
	for _, f := range r.All.Failures {
		out[f.Demand.Job]++
	}
	return out
}

// purge removes every job and waits until no allocation runs.
func purge(t *testing.T, nomad *nomadapi.Client) {
	t.Helper()
	jobs, _, err := nomad.Jobs().List(nil)
	require.NoError(t, err)
	for _, j := range jobs {
		_, _, err := nomad.Jobs().Deregister(j.ID, true, nil)
		require.NoError(t, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var index uint64
	for {
		allocs, meta, err := nomad.Allocations().List((&nomadapi.QueryOptions{WaitIndex: index}).WithContext(ctx))
		require.NoError(t, err)
		live := 0
		for _, a := range allocs {
			if a.DesiredStatus == "run" && (a.ClientStatus == "pending" || a.ClientStatus == "running") {
				live++
			}
		}
		if live == 0 {
			require.NoError(t, nomad.System().GarbageCollect())
			return
		}
		index = meta.LastIndex
	}
}

// The production jobs are placed by Nomad's real scheduler on a cluster
// shaped like the 12-Pi model (1 GiB, 4800 MHz, the agents' reservations,
// host volumes on the nodes the model puts them) exactly when the capacity
// model says they fit, allocation for allocation; and after draining
// nodes (a power cut, for placement) everything is placed again exactly
// when the model says the pool survives that many losses.
func TestSchedulerAgreesWithTheModel(t *testing.T) {
	prodPool, prodJobs := testenv.LoadPool(t, testenv.Example(t, "home-12pi"))
	c := testenv.StartCluster(t, prodPool, testenv.ClusterOptions{
		Clients: cluster.ModelClients(prodPool, prodJobs),
		Servers: 1,
	})
	nomad, err := c.NomadClient()
	require.NoError(t, err)

	// The checked-in jobs themselves, as an operator would run them.
	t.Run("jobs dir passes nomad job validate and plan", func(t *testing.T) {
		testenv.NomadValidateAndPlan(t, c.NomadAddr(), filepath.Join(testenv.RepoRoot(t), "jobs"))
	})

	cases := []struct {
		name         string
		replacements []string
		fits         bool
	}{
		{"production example", nil, true},
		// A wallet allocation is the daemon plus its 64 MiB probe; a Pi
		// client has 824 MiB after the agents' reservation.
		{"wallets one MiB too large for a Pi", []string{"memory_mb       = 600", "memory_mb       = 761"}, false},
		{"wallets exactly as large as a Pi's free memory", []string{"memory_mb       = 600", "memory_mb       = 760"}, true},
		{"more wallets than chain nodes hold", []string{"instances       = 2", "instances       = 5"}, false},
		{"more stratum servers than nodes for a static port", []string{"instances   = 2", "instances   = 13"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := testenv.Example(t, "home-12pi")
			if tc.replacements != nil {
				path = variant(t, tc.replacements...)
			}
			pool, _, diags := config.Load(path)
			require.False(t, diags.HasErrors(), diags.Error())
			jobs := jobspec.Render(pool)
			report := capacity.Analyze(pool.Cluster, jobs)
			require.Equal(t, tc.fits, report.All.Fits(), "the model's verdict changed")

			got := unplaced(t, nomad, jobs)
			if !assert.Equal(t, modelUnplaced(report), got, "unplaced allocations per job: model vs Nomad") {
				logPlacement(t, nomad, report)
			}
			t.Cleanup(func() { purge(t, nomad) })
		})
	}

	t.Run("node loss", func(t *testing.T) {
		report := capacity.Analyze(prodPool.Cluster, prodJobs)
		require.NotNil(t, report.Breaking, "the production model names a loss it does not survive")
		require.Len(t, report.Breaking.Lost, report.MaxLoss+1)
		require.Empty(t, unplaced(t, nomad, prodJobs))
		t.Cleanup(func() { purge(t, nomad) })

		// Only evaluations created by the drains count: the blocked one of
		// an earlier case's job is cancelled by Nomad in its own time.
		survivable := report.Breaking.Lost[:report.MaxLoss]
		since := evalIndex(t, nomad)
		drain(t, nomad, survivable)
		assert.Empty(t, blockedSince(t, nomad, since, true), "after losing %v every allocation must be placed again", survivable)

		since = evalIndex(t, nomad)
		drain(t, nomad, report.Breaking.Lost[report.MaxLoss:])
		assert.NotEmpty(t, blockedSince(t, nomad, since, false), "after losing %v the model says something cannot be placed", report.Breaking.Lost)
	})
}

// drain force-drains the named nodes and waits until Nomad has moved
// their allocations (or failed to).
func drain(t *testing.T, nomad *nomadapi.Client, names []string) {
	t.Helper()
	nodes, _, err := nomad.Nodes().List(nil)
	require.NoError(t, err)
	ids := map[string]string{}
	for _, n := range nodes {
		ids[n.Name] = n.ID
	}
	for _, name := range names {
		id, ok := ids[name]
		require.True(t, ok, "no node %s", name)
		_, err := nomad.Nodes().UpdateDrain(id, &nomadapi.DrainSpec{Deadline: -1 * time.Second}, false, nil)
		require.NoError(t, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, name := range names {
		var index uint64
		for {
			n, meta, err := nomad.Nodes().Info(ids[name], (&nomadapi.QueryOptions{WaitIndex: index}).WithContext(ctx))
			require.NoError(t, err)
			if n.DrainStrategy == nil {
				break
			}
			index = meta.LastIndex
		}
	}
}

// evalIndex is the Raft index of the newest evaluation: evaluations
// created after it belong to what the test does next.
func evalIndex(t *testing.T, nomad *nomadapi.Client) uint64 {
	t.Helper()
	_, meta, err := nomad.Evaluations().List(nil)
	require.NoError(t, err)
	return meta.LastIndex
}

// blockedSince waits until no evaluation created after index since is
// pending and returns the jobs of the blocked ones: work the scheduler
// found no room for. With wantPlaced it keeps waiting while any is
// blocked, because a blocked evaluation is unblocked once an allocation
// stopping on a drained node frees its share of a survivor; it returns
// what is still blocked when nothing changes for two minutes. Evaluations
// still pending then are no verdict either way, and fail the test.
func blockedSince(t *testing.T, nomad *nomadapi.Client, since uint64, wantPlaced bool) []string {
	t.Helper()
	var index uint64
	var out []string
	pending := 0
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		evals, meta, err := nomad.Evaluations().List((&nomadapi.QueryOptions{WaitIndex: index}).WithContext(ctx))
		cancel()
		if err != nil && ctx.Err() != nil {
			require.Zero(t, pending, "evaluations still pending after two minutes without a change; blocked so far: %v", out)
			return out
		}
		require.NoError(t, err)
		pending = 0
		out = nil
		for _, e := range evals {
			if e.CreateIndex <= since {
				continue
			}
			switch e.Status {
			case "pending":
				pending++
			case "blocked":
				out = append(out, e.JobID)
			}
		}
		if pending == 0 && (len(out) == 0 || !wantPlaced) {
			return out
		}
		index = meta.LastIndex
	}
}
