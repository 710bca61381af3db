package jobspec_test

import (
	"flag"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/config"
	"github.com/scryptpool/poolmicrocloud/tools/internal/jobspec"
)

var update = flag.Bool("update", false, "rewrite the golden files (and jobs/) from what the code produces now")

func load(t *testing.T, path string) *config.Pool {
	t.Helper()
	pool, _, diags := config.Load(path)
	require.False(t, diags.HasErrors(), diags.Error())
	return pool
}

// compareDir checks that dir holds exactly the rendered job files.
func compareDir(t *testing.T, dir string, pool *config.Pool) {
	t.Helper()
	jobs := jobspec.Render(pool)
	if *update {
		require.NoError(t, os.RemoveAll(dir))
		_, err := jobspec.WriteFiles(dir, pool.Name, jobs, false)
		require.NoError(t, err)
		return
	}
	var want []string
	for _, j := range jobs {
		want = append(want, j.FileName())
		data, err := os.ReadFile(filepath.Join(dir, j.FileName()))
		require.NoError(t, err, "%s is missing: run `task render`", j.FileName())
		assert.Equal(t, string(j.HCL(pool.Name)), string(data), "%s is stale: run `task render`", filepath.Join(dir, j.FileName()))
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var have []string
	for _, e := range entries {
		have = append(have, e.Name())
	}
	sort.Strings(want)
	assert.Equal(t, want, have, "%s holds files that are not rendered jobs", dir)
}

// jobs/ is the checked-in render of the production example; it must not
// drift from what poolctl renders.
func TestJobsDirIsCurrent(t *testing.T) {
	compareDir(t, "../../../jobs", load(t, "../../../examples/home-12pi/pool.hcl"))
}

func TestDevExampleGolden(t *testing.T) {
	compareDir(t, "testdata/dev", load(t, "../../../examples/dev/pool.hcl"))
}

// Two coins, one on testnet with pruning and peers of its own: the
// peers become addnode lines in the daemon's testnet section.
func TestTwoCoinsGolden(t *testing.T) {
	compareDir(t, "testdata/two-coins", load(t, "../validate/testdata/valid/two-coins.hcl"))
}

func TestDeploymentOrder(t *testing.T) {
	jobs := jobspec.Render(load(t, "../../../examples/home-12pi/pool.hcl"))
	var ids []string
	for i, j := range jobs {
		ids = append(ids, j.ID())
		if i > 0 {
			assert.GreaterOrEqual(t, j.Stage, jobs[i-1].Stage, "jobs out of deployment order: %v", ids)
		}
	}
	assert.Equal(t, []string{
		"scryptpool-database", "ltc-wallet", "ltc-stratum",
		"ltc-payout", "ltc-blocks", "scryptpool-archive", "scryptpool-stats", "scryptpool-backup", "scryptpool-web", "scryptpool-health",
	}, ids)
}

func TestEveryServiceHasNamedChecks(t *testing.T) {
	for _, j := range jobspec.Render(load(t, "../../../examples/home-12pi/pool.hcl")) {
		for _, g := range j.Job.TaskGroups {
			for _, s := range g.Services {
				require.NotEmpty(t, s.Checks, "%s: service %s has no check", j.ID(), s.Name)
				for _, c := range s.Checks {
					assert.NotEmpty(t, c.Name, "%s: unnamed check on %s", j.ID(), s.Name)
					assert.Positive(t, c.Interval, "%s: check %q has no interval", j.ID(), c.Name)
					assert.Positive(t, c.Timeout, "%s: check %q has no timeout", j.ID(), c.Name)
				}
			}
		}
	}
}

func TestPeriodicJobsNeverOverlapAndRunInUTC(t *testing.T) {
	for _, j := range jobspec.Render(load(t, "../../../examples/home-12pi/pool.hcl")) {
		if !j.Periodic() {
			continue
		}
		assert.True(t, *j.Job.Periodic.ProhibitOverlap, j.ID())
		assert.Equal(t, "UTC", *j.Job.Periodic.TimeZone, j.ID())
		assert.Equal(t, 0, *j.Job.TaskGroups[0].ReschedulePolicy.Attempts, j.ID())
		if j.Kind == jobspec.KindPayout {
			assert.Equal(t, 0, *j.Job.TaskGroups[0].RestartPolicy.Attempts, "a payout must never be retried blindly")
		}
	}
}

func TestVolumeOwners(t *testing.T) {
	owners := jobspec.VolumeOwners(jobspec.Render(load(t, "../../../examples/home-12pi/pool.hcl")))
	assert.Equal(t, map[string]string{"ltc-chain": "nobody", "pool-backup": "postgres", "pool-data": "postgres"}, owners)
}
