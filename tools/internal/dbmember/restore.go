package dbmember

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/scryptpool/poolmicrocloud/tools/internal/durable"
)

// RestoreRequest is a restore the operator asked for (`poolctl database
// restore`), kept in Consul (contract.DatabaseRestoreKey) for every
// member to read when it starts.
type RestoreRequest struct {
	// ID names the request: a member sets its data directory aside once
	// per ID.
	ID string `json:"id"`
	// Target is the moment restored to: every transaction committed up to
	// it, none after.
	Target time.Time `json:"target"`
	// Archive is the Consul service that serves the archive.
	Archive string `json:"archive"`
	// Requested is when the operator asked.
	Requested time.Time `json:"requested"`
}

var requestID = regexp.MustCompile(`^[0-9A-Za-z._-]{1,64}$`)

// ParseRestoreRequest reads a request, saying what is wrong with it.
func ParseRestoreRequest(b []byte) (RestoreRequest, error) {
	var r RestoreRequest
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return r, fmt.Errorf("restore request: %w", err)
	}
	switch {
	case !requestID.MatchString(r.ID):
		return r, fmt.Errorf("restore request: id %q: 1 to 64 of 0-9 A-Z a-z . _ -", r.ID)
	case r.Target.IsZero():
		return r, fmt.Errorf("restore request %s: no target time", r.ID)
	case r.Archive == "":
		return r, fmt.Errorf("restore request %s: no archive service", r.ID)
	}
	return r, nil
}

// NewRestoreID names a request made at t.
func NewRestoreID(t time.Time) string { return t.UTC().Format("20060102T150405.000Z") }

// RestoreMarker is the file beside a member's data directory that names
// the last restore request the directory follows.
func RestoreMarker(dataDir string) string { return dataDir + ".restore-id" }

// BeforeRestoreDir is where a data directory older than restore id goes.
func BeforeRestoreDir(dataDir, id string) string { return dataDir + ".before-restore-" + id }

// FollowRestore makes a member's data directory follow request r: unless
// the directory already follows it (its marker names r.ID), a directory
// holding anything is renamed to BeforeRestoreDir (kept for a person:
// the state before the restore; only the newest such copy is kept), and
// the marker is written. The member then starts empty: the member that
// creates the new cluster restores it from the archive, the others copy
// it. A node that was away during the restore does the same when it
// returns, so its stale copy is never run. It returns where the old
// directory went ("" when nothing was moved).
func FollowRestore(dataDir string, r RestoreRequest) (string, error) {
	marker := RestoreMarker(dataDir)
	b, err := os.ReadFile(marker)
	if err == nil && strings.TrimSpace(string(b)) == r.ID {
		return "", nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read %s: %w", marker, err)
	}
	var moved string
	entries, err := os.ReadDir(dataDir)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return "", fmt.Errorf("read the data directory %s: %w", dataDir, err)
	case len(entries) > 0:
		moved = BeforeRestoreDir(dataDir, r.ID)
		older, _ := filepath.Glob(dataDir + ".before-restore-*")
		if err := os.Rename(dataDir, moved); err != nil {
			return "", fmt.Errorf("set the data directory aside for restore %s: %w", r.ID, err)
		}
		for _, o := range older {
			if o != moved {
				if err := os.RemoveAll(o); err != nil {
					return moved, fmt.Errorf("remove the older copy %s: %w", o, err)
				}
			}
		}
	}
	if err := durable.WriteFile(marker, []byte(r.ID+"\n"), 0o600); err != nil {
		return moved, fmt.Errorf("write %s: %w", marker, err)
	}
	return moved, nil
}
