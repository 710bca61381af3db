package dbarchive

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"time"
)

// commitLine is how pg_waldump (TZ=UTC) shows a commit record.
var commitLine = regexp.MustCompile(`desc: COMMIT (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?) UTC`)

// lastCommitScan bounds how many segments lastCommit reads back from the
// newest before it gives up (a database writing nothing for that long).
const lastCommitScan = 4

// lastCommit is the time of the newest commit in the archive's WAL,
// found with pg_waldump in the newest segments; ok is false when none of
// them holds one.
func lastCommit(ctx context.Context, pgBin, walDir string, wal []WALFile) (t time.Time, ok bool, err error) {
	segs := currentSegments(wal)
	tmp, err := os.MkdirTemp("", "poolctl-waldump-")
	if err != nil {
		return t, false, err
	}
	defer os.RemoveAll(tmp)
	for i := len(segs) - 1; i >= 0 && i >= len(segs)-lastCommitScan; i-- {
		f := segs[i]
		// pg_waldump wants a segment's own name, without .partial.
		link := filepath.Join(tmp, SegmentName(f.Timeline, f.Segment))
		_ = os.Remove(link)
		if err := os.Symlink(walPath(walDir, f), link); err != nil {
			return t, false, err
		}
		cmd := exec.CommandContext(ctx, filepath.Join(pgBin, "pg_waldump"), link)
		cmd.Env = []string{"TZ=UTC", "LC_ALL=C"}
		var out, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &stderr
		// It ends with an error where the WAL received so far ends, as it
		// does in a partial segment's zeroes: what it printed counts.
		runErr := cmd.Run()
		if out.Len() == 0 && runErr != nil && !bytes.Contains(stderr.Bytes(), []byte("invalid record")) {
			return t, false, fmt.Errorf("pg_waldump %s: %v: %s", f.Name, runErr, bytes.TrimSpace(stderr.Bytes()))
		}
		m := commitLine.FindAllSubmatch(out.Bytes(), -1)
		if len(m) == 0 {
			continue
		}
		t, err := time.Parse("2006-01-02 15:04:05.999999999", string(m[len(m)-1][1]))
		if err != nil {
			return t, false, fmt.Errorf("pg_waldump %s: %w", f.Name, err)
		}
		return t.UTC(), true, nil
	}
	return t, false, nil
}
