package pack_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/binaries"
	"github.com/scryptpool/poolmicrocloud/tools/internal/config"
	"github.com/scryptpool/poolmicrocloud/tools/internal/jobspec"
	"github.com/scryptpool/poolmicrocloud/tools/internal/pack"
	"github.com/scryptpool/poolmicrocloud/tools/internal/testenv"
)

// parse runs a job file through Nomad's own parser and returns the job as
// the API would receive it.
func parse(t *testing.T, nomad, path string) (string, json.RawMessage) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(nomad, "job", "run", "-output", path)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "nomad cannot parse %s: %s", path, stderr.String())
	var req struct {
		Job json.RawMessage
	}
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &req))
	var id struct{ ID string }
	require.NoError(t, json.Unmarshal(req.Job, &id))
	return id.ID, req.Job
}

func poolctlJobs(t *testing.T, nomad string, pool *config.Pool) map[string]json.RawMessage {
	t.Helper()
	dir := t.TempDir()
	_, err := jobspec.WriteFiles(dir, pool.Name, jobspec.Render(pool), false)
	require.NoError(t, err)
	return parseDir(t, nomad, dir, "*.nomad.hcl")
}

func parseDir(t *testing.T, nomad, dir, pattern string) map[string]json.RawMessage {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, pattern))
	require.NoError(t, err)
	out := map[string]json.RawMessage{}
	for _, f := range files {
		id, job := parse(t, nomad, f)
		require.NotContains(t, out, id, "two files render job %s", id)
		out[id] = job
	}
	return out
}

func keys(m map[string]json.RawMessage) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// The pack renders, with a real nomad-pack, the same jobs as poolctl
// render for the same pool definition: compared after Nomad's own parser
// has read both.
func TestPackRendersTheSameJobs(t *testing.T) {
	if testing.Short() {
		t.Skip("runs nomad-pack and nomad")
	}
	nomad := testenv.Tool(t, binaries.Nomad)
	nomadPack := testenv.Tool(t, binaries.NomadPack)
	packDir := filepath.Join(testenv.RepoRoot(t), "packs", "scryptpool")
	cases := []struct {
		name     string
		pool     string
		varsFile bool
	}{
		{"production example with the pack defaults", testenv.Example(t, "home-12pi"), false},
		{"production example", testenv.Example(t, "home-12pi"), true},
		{"dev example", testenv.Example(t, "dev"), true},
		{"two coins with testnet and pruning", "../validate/testdata/valid/two-coins.hcl", true},
		{"four coins in every coin slot of the pack", "testdata/four-coins.hcl", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pool, _, diags := config.Load(tc.pool)
			require.False(t, diags.HasErrors(), diags.Error())
			out := t.TempDir()
			args := []string{"render", "-o", out}
			if tc.varsFile {
				vars := filepath.Join(t.TempDir(), "vars.hcl")
				require.NoError(t, os.WriteFile(vars, pack.Vars(pool), 0o644))
				args = append(args, "--var-file", vars)
			}
			var stderr bytes.Buffer
			cmd := exec.Command(nomadPack, append(args, packDir)...)
			cmd.Stderr, cmd.Stdout = &stderr, &stderr
			require.NoError(t, cmd.Run(), stderr.String())

			fromPack := parseDir(t, nomad, filepath.Join(out, "scryptpool"), "*.nomad")
			fromPoolctl := poolctlJobs(t, nomad, pool)
			require.Len(t, fromPoolctl, len(jobspec.Render(pool)), "every job poolctl renders is compared")
			require.Equal(t, keys(fromPoolctl), keys(fromPack))
			for id, want := range fromPoolctl {
				assert.JSONEq(t, string(want), string(fromPack[id]), "job %s differs between the pack and poolctl render", id)
			}
		})
	}
}
