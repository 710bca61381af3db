package dbarchive

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var day0 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

// at is day0 plus hours.
func at(hours float64) time.Time { return day0.Add(time.Duration(hours * float64(time.Hour))) }

// seg is the first position of segment n.
func seg(n uint64) LSN { return LSN(n * SegmentSize) }

// bk is a base backup on timeline 1 that started in segment start and
// ended in segment end, finishing at hour finished.
func bk(id string, finished float64, start, end uint64) Backup {
	return Backup{ID: id, Started: at(finished - 0.1), Finished: at(finished), Timeline: 1,
		StartLSN: seg(start) + 0x28, EndLSN: seg(end) + 0x100}
}

// walFiles parses names into the archive's files, each written at hour
// of its position in the list (the order pg_receivewal writes them).
func walFiles(t *testing.T, names ...string) []WALFile {
	t.Helper()
	var out []WALFile
	for i, n := range names {
		f, ok := parseWALName(n)
		require.True(t, ok, n)
		f.ModTime = at(float64(i))
		out = append(out, f)
	}
	sortWAL(out)
	return out
}

// segments names segments first..last on timeline tli, the last partial
// when partial.
func segments(tli uint32, first, last uint64, partial bool) []string {
	var out []string
	for s := first; s <= last; s++ {
		n := SegmentName(tli, s)
		if partial && s == last {
			n += ".partial"
		}
		out = append(out, n)
	}
	return out
}

// writeArchive lays out an archive: the base backups' metadata (and an
// empty tar), and empty WAL files.
func writeArchive(t *testing.T, backups []Backup, wal []string) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(WALDir(dir), 0o700))
	for _, b := range backups {
		d := filepath.Join(baseDir(dir), b.ID)
		require.NoError(t, os.MkdirAll(d, 0o700))
		meta, err := json.Marshal(b)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(d, metaFile), meta, 0o600))
	}
	for _, n := range wal {
		require.NoError(t, os.WriteFile(filepath.Join(WALDir(dir), n), nil, 0o600))
	}
	return dir
}
