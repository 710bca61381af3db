package dbarchive

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Backup is one base backup in the archive (backup.json beside it).
type Backup struct {
	// ID is its directory under base/: its start time, UTC.
	ID string `json:"id"`
	// Started and Finished bracket pg_basebackup on the archive's clock:
	// every commit the backup holds happened before Finished, so Finished
	// is the earliest time it can be restored to.
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	// Timeline, StartLSN and EndLSN are the WAL a restore of it needs at
	// least (the manifest's WAL-Ranges).
	Timeline uint32 `json:"timeline"`
	StartLSN LSN    `json:"start_lsn"`
	EndLSN   LSN    `json:"end_lsn"`
	// Bytes is the size of its files.
	Bytes int64 `json:"bytes"`
	// From is the member it was taken from (host:port).
	From string `json:"from"`
}

// idLayout names a base backup's directory after its start.
const idLayout = "20060102T150405Z"

func backupID(started time.Time) string { return started.UTC().Format(idLayout) }

// ListBackups reads the archive's base backups, oldest first. A
// directory without a readable backup.json is not a base backup (one
// being taken has a temporary name).
func ListBackups(dir string) ([]Backup, error) {
	entries, err := os.ReadDir(baseDir(dir))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list the base backups: %w", err)
	}
	var out []Backup
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		b, err := readMeta(filepath.Join(baseDir(dir), e.Name()))
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	sortBackups(out)
	return out, nil
}

func sortBackups(b []Backup) {
	sort.Slice(b, func(i, j int) bool { return b[i].Finished.Before(b[j].Finished) })
}

func readMeta(path string) (Backup, error) {
	var b Backup
	raw, err := os.ReadFile(filepath.Join(path, metaFile))
	if err != nil {
		return b, fmt.Errorf("base backup %s: %w", path, err)
	}
	if err := json.Unmarshal(raw, &b); err != nil {
		return b, fmt.Errorf("base backup %s: %s: %w", path, metaFile, err)
	}
	if b.ID != filepath.Base(path) {
		return b, fmt.Errorf("base backup %s: %s names %q", path, metaFile, b.ID)
	}
	return b, nil
}

// manifestWAL reads the WAL range a base backup needs from its manifest.
func manifestWAL(path string) (tli uint32, start, end LSN, err error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, 0, err
	}
	var m struct {
		Ranges []struct {
			Timeline uint32 `json:"Timeline"`
			Start    string `json:"Start-LSN"`
			End      string `json:"End-LSN"`
		} `json:"WAL-Ranges"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return 0, 0, 0, fmt.Errorf("%s: %w", path, err)
	}
	if len(m.Ranges) == 0 {
		return 0, 0, 0, fmt.Errorf("%s: no WAL-Ranges", path)
	}
	first, last := m.Ranges[0], m.Ranges[len(m.Ranges)-1]
	if start, err = ParseLSN(first.Start); err != nil {
		return 0, 0, 0, fmt.Errorf("%s: %w", path, err)
	}
	if end, err = ParseLSN(last.End); err != nil {
		return 0, 0, 0, fmt.Errorf("%s: %w", path, err)
	}
	return first.Timeline, start, end, nil
}
