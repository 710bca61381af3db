package validate_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/diag"
	"github.com/scryptpool/poolmicrocloud/tools/internal/validate"
)

var update = flag.Bool("update", false, "rewrite the golden files from what the code produces now")

// report is what `poolctl validate` shows for a file: the diagnostics, and
// for a usable definition the capacity report.
func report(t *testing.T, path string) (string, *validate.Result) {
	t.Helper()
	r := validate.File(path)
	var out bytes.Buffer
	require.NoError(t, diag.Write(&out, r.Files, r.Diags, 0))
	if r.OK() {
		r.Capacity.WriteSummary(&out)
	}
	return out.String(), r
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	want := strings.TrimSuffix(path, ".hcl") + ".golden"
	if *update {
		require.NoError(t, os.WriteFile(want, []byte(got), 0o644))
		return
	}
	data, err := os.ReadFile(want)
	require.NoError(t, err, "missing golden file; run `task golden` (go test ./tools/... -update)")
	assert.Equal(t, string(data), got, "output differs from %s", want)
}

func TestValidDefinitions(t *testing.T) {
	files, err := filepath.Glob("testdata/valid/*.hcl")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			got, r := report(t, path)
			require.True(t, r.OK(), "unexpected errors:\n%s", got)
			require.NotEmpty(t, r.Jobs)
			golden(t, path, got)
		})
	}
}

func TestInvalidDefinitions(t *testing.T) {
	files, err := filepath.Glob("testdata/invalid/*.hcl")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			got, r := report(t, path)
			require.False(t, r.OK(), "no errors for an invalid definition")
			assert.Nil(t, r.Jobs, "jobs rendered from an invalid definition")
			for _, d := range r.Diags {
				require.NotNil(t, d.Subject, "diagnostic without a source range: %s", d.Summary)
				assert.Equal(t, path, d.Subject.Filename)
				assert.Positive(t, d.Subject.Start.Line, "diagnostic %q has no line", d.Summary)
			}
			golden(t, path, got)
		})
	}
}

func TestExamplesAreValid(t *testing.T) {
	for _, path := range []string{"../../../examples/home-12pi/pool.hcl", "../../../examples/dev/pool.hcl"} {
		t.Run(path, func(t *testing.T) {
			got, r := report(t, path)
			require.True(t, r.OK(), got)
		})
	}
}

func TestMissingFile(t *testing.T) {
	r := validate.File("testdata/no-such-file.hcl")
	require.False(t, r.OK())
	require.Len(t, r.Diags, 1)
	assert.Equal(t, "Cannot read pool definition", r.Diags[0].Summary)
	assert.Contains(t, r.Diags[0].Detail, "no such file or directory")
	assert.Equal(t, "testdata/no-such-file.hcl", r.Diags[0].Subject.Filename)
}

func TestDirectoryIsNotADefinition(t *testing.T) {
	r := validate.File("testdata")
	require.False(t, r.OK())
	assert.Contains(t, r.Diags[0].Detail, "is a directory")
}

func TestTooLargeFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.hcl")
	require.NoError(t, os.WriteFile(path, bytes.Repeat([]byte("# padding\n"), 200_000), 0o644))
	r := validate.File(path)
	require.False(t, r.OK())
	assert.Contains(t, r.Diags[0].Detail, "larger than")
}

// The production example is what jobs/ and the pack are made from; its
// capacity verdict is part of what the README promises: the loss of any
// one node, and no host volume on one node only (the database's members
// and its backup have a node to go to).
func TestProductionCapacity(t *testing.T) {
	r := validate.File("../../../examples/home-12pi/pool.hcl")
	require.True(t, r.OK())
	assert.Equal(t, 1, r.Capacity.Tolerate)
	assert.GreaterOrEqual(t, r.Capacity.MaxLoss, r.Capacity.Tolerate)
	assert.Empty(t, r.Capacity.SingleNodeVolumes)
}
