package cli_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/cli"
)

// run runs poolctl in-process and returns its exit code and output.
func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := cli.Main(append([]string{"poolctl"}, args...), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

const (
	prod = "../../../examples/home-12pi/pool.hcl"
	dev  = "../../../examples/dev/pool.hcl"
)

func TestExitCodes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr string
		stdout string
	}{
		{"valid", []string{"validate", prod}, cli.ExitOK, "", "is valid: 8 jobs"},
		{"warnings only", []string{"validate", dev}, cli.ExitOK, "warning: Single stratum instance", "is valid"},
		{"invalid", []string{"validate", "../validate/testdata/invalid/bad-values.hcl"}, cli.ExitInvalid, "22 error(s)", ""},
		{"missing file", []string{"validate", "no/such/pool.hcl"}, cli.ExitInvalid, "no/such/pool.hcl:1:1: error: Cannot read pool definition", ""},
		{"garbage", []string{"validate", "../validate/testdata/invalid/binary-garbage.hcl"}, cli.ExitInvalid, "Not a text file", ""},
		{"render invalid", []string{"render", "../validate/testdata/invalid/node-loss.hcl"}, cli.ExitInvalid, "Jobs do not survive the node failures asked for", ""},
		{"unknown flag", []string{"validate", "--no-such-flag", prod}, cli.ExitInvalid, "flag provided but not defined", ""},
		{"deploy invalid sends nothing", []string{"deploy", "--address", "http://127.0.0.1:1", "../validate/testdata/invalid/empty-file.hcl"}, cli.ExitInvalid, "Missing pool block", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := run(t, tc.args...)
			assert.Equal(t, tc.code, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
			assert.Contains(t, stderr, tc.stderr)
			assert.Contains(t, stdout, tc.stdout)
		})
	}
}

func TestRenderWritesJobFilesAndPackVars(t *testing.T) {
	dir := t.TempDir()
	vars := filepath.Join(dir, "vars.hcl")
	code, stdout, stderr := run(t, "render", "-o", filepath.Join(dir, "jobs"), "--pack-vars", vars, prod)
	require.Equal(t, cli.ExitOK, code, stderr)
	assert.Len(t, strings.Fields(stdout), 8)
	entries, err := os.ReadDir(filepath.Join(dir, "jobs"))
	require.NoError(t, err)
	assert.Len(t, entries, 8)
	data, err := os.ReadFile(vars)
	require.NoError(t, err)
	assert.Contains(t, string(data), `pool_name  = "scryptpool"`)
}

func TestRenderJSONToStdout(t *testing.T) {
	code, stdout, _ := run(t, "render", "--json", dev)
	require.Equal(t, cli.ExitOK, code)
	assert.Equal(t, 8, strings.Count(stdout, `"Job": {`))
}

// An API that is not there is one line naming it, its address and what
// failed, and exit 1.
func TestUnreachableAPIs(t *testing.T) {
	code, _, stderr := run(t, "plan", "--address", "http://127.0.0.1:1", dev)
	assert.Equal(t, cli.ExitRuntime, code)
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	last := lines[len(lines)-1]
	assert.Contains(t, last, "nomad at http://127.0.0.1:1: ask for its leader: unreachable")
	assert.Contains(t, last, "connection refused")
}
