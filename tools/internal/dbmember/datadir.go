package dbmember

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"time"
)

// DataDir is what a member's data directory holds, as pg_controldata
// reads it.
type DataDir struct {
	// Empty: no data directory, or nothing in it (Patroni bootstraps or
	// clones it).
	Empty bool
	// SystemID is the cluster's system identifier ("" when unreadable).
	SystemID string
	// Broken says why the directory cannot be trusted: pg_control missing,
	// unreadable or failing its checksum.
	Broken string
}

var systemIDLine = regexp.MustCompile(`(?m)^Database system identifier:\s+(\d+)\s*$`)

// Inspect reads the data directory's control file with pg_controldata.
func Inspect(dataDir, binDir string) (DataDir, error) {
	entries, err := os.ReadDir(dataDir)
	if errors.Is(err, os.ErrNotExist) || (err == nil && len(entries) == 0) {
		return DataDir{Empty: true}, nil
	}
	if err != nil {
		return DataDir{}, fmt.Errorf("read the data directory %s: %w", dataDir, err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(filepath.Join(binDir, "pg_controldata"), "-D", dataDir)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	if bytes.Contains(stderr.Bytes(), []byte("CRC checksum does not match")) || bytes.Contains(stdout.Bytes(), []byte("CRC checksum does not match")) {
		return DataDir{Broken: "pg_control fails its checksum"}, nil
	}
	if runErr != nil {
		var exit *exec.ExitError
		if errors.As(runErr, &exit) {
			msg := bytes.TrimSpace(stderr.Bytes())
			if i := bytes.IndexByte(msg, '\n'); i >= 0 {
				msg = msg[:i]
			}
			return DataDir{Broken: fmt.Sprintf("pg_controldata: %s", msg)}, nil
		}
		return DataDir{}, fmt.Errorf("run pg_controldata: %w", runErr)
	}
	m := systemIDLine.FindSubmatch(stdout.Bytes())
	if m == nil {
		return DataDir{Broken: "pg_controldata names no system identifier"}, nil
	}
	return DataDir{SystemID: string(m[1])}, nil
}

// Verdict is what a member does with its data directory before Patroni
// starts.
type Verdict int

const (
	// Keep the directory: it is this cluster's, or there is nothing to
	// compare with.
	Keep Verdict = iota
	// SetAside moves the directory away so that Patroni clones the
	// primary: it is another cluster's, or broken, and a primary exists.
	SetAside
	// Refuse to start: the directory is foreign or broken and no primary
	// exists to clone; a person must look (restore from the archive).
	Refuse
)

// Decide judges a member's data directory against the cluster in Consul:
// initialize is the cluster's system identifier ("" before the cluster
// exists), leader the member holding the leader lock ("" when none), name
// this member. A directory that is not this cluster's is never promoted:
// Patroni would refuse it (system ID mismatch) or, if broken, fail to run
// it; set aside, the member becomes a fresh copy of the primary.
func Decide(d DataDir, initialize, leader, name string) (Verdict, string) {
	switch {
	case d.Empty:
		return Keep, "empty data directory: Patroni creates or clones it"
	case initialize == "" && d.Broken == "":
		return Keep, "no cluster in Consul yet: Patroni takes this data directory over"
	case d.Broken == "" && d.SystemID == initialize:
		return Keep, "data directory of this cluster (system identifier " + d.SystemID + ")"
	}
	why := d.Broken
	if why == "" {
		why = fmt.Sprintf("data directory of another cluster (system identifier %s, this cluster's is %s)", d.SystemID, initialize)
	}
	if leader == "" || leader == name {
		return Refuse, why + ", and no other member is primary to copy from: restore the database from the archive (README, Restore)"
	}
	return SetAside, why + ": set aside, to be replaced by a copy of the primary " + leader
}

// SetAsideDir renames a data directory that will not be used to
// <dir>.set-aside-<time>, kept for a person to look at; Patroni then
// clones the primary into a new one. Only the newest set-aside directory
// is kept: a node's disk holds the database twice at most.
func SetAsideDir(dataDir string, now time.Time) (string, error) {
	to := fmt.Sprintf("%s.set-aside-%s", dataDir, now.UTC().Format("20060102T150405Z"))
	older, _ := filepath.Glob(dataDir + ".set-aside-*")
	if err := os.Rename(dataDir, to); err != nil {
		return "", fmt.Errorf("set the data directory aside: %w", err)
	}
	for _, o := range older {
		if o != to {
			if err := os.RemoveAll(o); err != nil {
				return to, fmt.Errorf("remove the older set-aside data directory %s: %w", o, err)
			}
		}
	}
	return to, nil
}
