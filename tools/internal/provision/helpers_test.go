package provision

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

// repoRoot is the repository's top directory.
func repoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	require.True(t, ok)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", "..", ".."))
}

func ansibleDir(t testing.TB) string { return filepath.Join(repoRoot(t), "ansible") }

// needTool returns the path of a program the test needs. Under -short a
// missing tool skips the test; otherwise it fails, so that the test
// command never passes by skipping what CI installs (task setup).
func needTool(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if testing.Short() {
			t.Skipf("%s is missing (Debian package %s); skipped with -short", name, pkg)
		}
		require.NoError(t, err, "%s is missing: install the Debian package %s (task setup)", name, pkg)
	}
	return p
}

// run runs a command in dir and returns its combined output, failing the
// test with that output when it fails.
func run(t testing.TB, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s %v:\n%s", name, args, out)
	return string(out)
}
