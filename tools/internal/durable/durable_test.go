package durable

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "marker")
	for _, content := range []string{"first\n", "second\n"} {
		require.NoError(t, WriteFile(p, []byte(content), 0o600))
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		assert.Equal(t, content, string(b))
	}
	info, err := os.Stat(p)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())
	assert.NoFileExists(t, p+".tmp")
	assert.Error(t, WriteFile(filepath.Join(dir, "missing", "marker"), nil, 0o600), "a directory that is not there")
}
