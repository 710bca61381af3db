package dbarchive

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// An archive that is not on the primary's history (a cluster restored
// from it, or another cluster altogether) is set aside whole, never
// deleted nor mixed with the new WAL: its wal/ and base/ move into
// <dir>/set-aside-<UTC time>/, itself an archive (poolctl archive info
// and restore --dir read it), and the archive starts afresh. It stays
// inside the archive directory, which may be a volume's mount point that
// cannot be renamed, on the same file system. Only the newest set-aside
// is kept.

const (
	setAsidePrefix = "set-aside-"
	// pendingPrefix names a set-aside being made: Run finishes it.
	pendingPrefix = "." + setAsidePrefix
)

// setAside moves the archive's contents into a set-aside directory,
// removes older set-asides and leaves wal/ and base/ empty. It answers
// the set-aside directory.
func setAside(dir string, now time.Time) (string, error) {
	name := setAsidePrefix + now.UTC().Format(idLayout)
	pending := filepath.Join(dir, "."+name)
	if err := os.Mkdir(pending, 0o700); err != nil {
		return "", fmt.Errorf("set the archive aside: %w", err)
	}
	final, err := finishSetAside(dir, "."+name)
	if err != nil {
		return "", err
	}
	for _, d := range []string{WALDir(dir), baseDir(dir)} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return final, fmt.Errorf("set the archive aside: %w", err)
		}
	}
	return final, syncDir(dir)
}

// finishSetAside moves wal/ and base/ into the pending set-aside (WAL
// first: an archive of base backups without their WAL is never left to
// be streamed into), names it final and removes the older set-asides.
// Run calls it at start for one interrupted: until it is final, nothing
// but the moves has touched the archive.
func finishSetAside(dir, pendingName string) (string, error) {
	pending := filepath.Join(dir, pendingName)
	for _, sub := range []string{walSubdir, baseSubdir} {
		from, to := filepath.Join(dir, sub), filepath.Join(pending, sub)
		if _, err := os.Stat(to); err == nil {
			continue
		}
		if _, err := os.Stat(from); os.IsNotExist(err) {
			continue
		}
		if err := os.Rename(from, to); err != nil {
			return "", fmt.Errorf("set the archive aside: %w", err)
		}
	}
	final := filepath.Join(dir, strings.TrimPrefix(pendingName, "."))
	if err := os.Rename(pending, final); err != nil {
		return "", fmt.Errorf("set the archive aside: %w", err)
	}
	older, err := setAsides(dir)
	if err != nil {
		return final, err
	}
	for _, o := range older {
		if o == final {
			continue
		}
		if err := os.RemoveAll(o); err != nil {
			return final, fmt.Errorf("remove the older set-aside %s: %w", o, err)
		}
	}
	return final, nil
}

// finishPendingSetAside finishes a set-aside interrupted before it was
// whole, if any, and answers it.
func finishPendingSetAside(dir string) (string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), pendingPrefix) {
			return finishSetAside(dir, e.Name())
		}
	}
	return "", nil
}

// setAsides are the archive's set-aside directories, oldest first.
func setAsides(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), setAsidePrefix) {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	sort.Strings(out)
	return out, nil
}
