package dbmember

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseRestoreRequest(t *testing.T) {
	for _, tc := range []struct {
		name, in, err string
	}{
		{"good", `{"id":"20261202T150405.000Z","target":"2026-12-02T15:00:00Z","archive":"pool-archive","requested":"2026-12-02T15:04:05Z"}`, ""},
		{"no id", `{"id":"","target":"2026-12-02T15:00:00Z","archive":"a"}`, `id ""`},
		{"id with a slash", `{"id":"../x","target":"2026-12-02T15:00:00Z","archive":"a"}`, `id "../x"`},
		{"no target", `{"id":"x","archive":"a"}`, "no target time"},
		{"no archive", `{"id":"x","target":"2026-12-02T15:00:00Z"}`, "no archive service"},
		{"unknown field", `{"id":"x","target":"2026-12-02T15:00:00Z","archive":"a","dir":"/"}`, `unknown field "dir"`},
		{"not JSON", `restore please`, "restore request: invalid character"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseRestoreRequest([]byte(tc.in))
			if tc.err == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.err)
		})
	}
}

func TestFollowRestore(t *testing.T) {
	req := func(id string) RestoreRequest {
		return RestoreRequest{ID: id, Target: time.Now(), Archive: "pool-archive"}
	}
	t.Run("a data directory older than the request is set aside once", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "postgresql")
		require.NoError(t, os.MkdirAll(dir, 0o700))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "PG_VERSION"), []byte("15\n"), 0o600))
		moved, err := FollowRestore(dir, req("r1"))
		require.NoError(t, err)
		assert.Equal(t, dir+".before-restore-r1", moved)
		assert.FileExists(t, filepath.Join(moved, "PG_VERSION"))
		assert.NoDirExists(t, dir)
		// The new cluster's directory, made after the marker, stays.
		require.NoError(t, os.MkdirAll(dir, 0o700))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "PG_VERSION"), []byte("15\n"), 0o600))
		moved, err = FollowRestore(dir, req("r1"))
		require.NoError(t, err)
		assert.Empty(t, moved)
		assert.FileExists(t, filepath.Join(dir, "PG_VERSION"))
		// A second restore sets it aside and keeps only the newest copy.
		moved, err = FollowRestore(dir, req("r2"))
		require.NoError(t, err)
		assert.Equal(t, dir+".before-restore-r2", moved)
		assert.NoDirExists(t, dir+".before-restore-r1")
	})
	t.Run("an absent or empty directory only gets the marker", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "postgresql")
		moved, err := FollowRestore(dir, req("r1"))
		require.NoError(t, err)
		assert.Empty(t, moved)
		b, err := os.ReadFile(RestoreMarker(dir))
		require.NoError(t, err)
		assert.Equal(t, "r1\n", string(b))
		require.NoError(t, os.MkdirAll(dir, 0o700))
		moved, err = FollowRestore(dir, req("r2"))
		require.NoError(t, err)
		assert.Empty(t, moved)
	})
}
