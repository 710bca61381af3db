package testenv

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/binaries"
)

// NomadValidateAndPlan runs `nomad job validate` and `nomad job plan`, the
// real CLI against the given agent, on every *.nomad.hcl in dir. validate
// must succeed; plan must exit 0 or 1 (1 means it would create
// allocations) and report no placement failure.
func NomadValidateAndPlan(t *testing.T, nomadAddr, dir string) {
	t.Helper()
	nomad := Tool(t, binaries.Nomad)
	files, err := filepath.Glob(filepath.Join(dir, "*.nomad.hcl"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			out, code := nomadCLI(nomad, nomadAddr, "job", "validate", f)
			require.Equal(t, 0, code, "nomad job validate %s:\n%s", f, out)
			assert.Contains(t, out, "Job validation successful")
			out, code = nomadCLI(nomad, nomadAddr, "job", "plan", f)
			require.Contains(t, []int{0, 1}, code, "nomad job plan %s:\n%s", f, out)
			assert.NotContains(t, out, "Failed to place")
			assert.NotContains(t, out, "Placement Failure")
		})
	}
}

func nomadCLI(nomad, addr string, args ...string) (string, int) {
	var out bytes.Buffer
	cmd := exec.Command(nomad, args...)
	cmd.Env = append(os.Environ(), "NOMAD_ADDR="+addr, "NOMAD_TOKEN=")
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	if err != nil {
		code = -1
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
	}
	return strings.TrimSpace(out.String()), code
}
