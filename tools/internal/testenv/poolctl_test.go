package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The directory of a test binary that has ended is removed; those of
// running ones, and names that are not process ids, are left.
func TestRemoveEnded(t *testing.T) {
	base := t.TempDir()
	ended := exec.Command("true")
	require.NoError(t, ended.Run())
	running := exec.Command("sleep", "60")
	require.NoError(t, running.Start())
	t.Cleanup(func() { _ = running.Process.Kill(); _ = running.Wait() })
	for _, name := range []string{strconv.Itoa(ended.Process.Pid), strconv.Itoa(running.Process.Pid), strconv.Itoa(os.Getpid()), "notes"} {
		require.NoError(t, os.MkdirAll(filepath.Join(base, name), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(base, name, "poolctl"), []byte("x"), 0o755))
	}
	removeEnded(base)
	for name, kept := range map[string]bool{
		strconv.Itoa(ended.Process.Pid):   false,
		strconv.Itoa(running.Process.Pid): true,
		strconv.Itoa(os.Getpid()):         true,
		"notes":                           true,
	} {
		_, err := os.Stat(filepath.Join(base, name))
		assert.Equal(t, kept, err == nil, "%s kept", name)
	}
}
