package dbarchive

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"time"
)

// Info is what the archive holds, for poolctl archive info and status.
type Info struct {
	Dir string `json:"dir"`
	// Backups are the base backups, oldest first.
	Backups []Backup `json:"backups"`
	// LastBackup is the newest base backup.
	LastBackup *Backup `json:"last_backup,omitempty"`
	// OldestRestorable is the earliest time a restore can reach: the end
	// of the oldest base backup whose WAL the archive holds.
	OldestRestorable *time.Time `json:"oldest_restorable,omitempty"`
	// NewestWAL is the newest segment file; NewestWALWritten when the
	// archive last wrote to it (WAL received then).
	NewestWAL        string     `json:"newest_wal,omitempty"`
	NewestWALWritten *time.Time `json:"newest_wal_written,omitempty"`
	Timeline         uint32     `json:"timeline,omitempty"`
	// LastCommit is the newest commit in the archive, when the newest
	// segments hold one and pg_waldump is at hand.
	LastCommit *time.Time `json:"last_commit,omitempty"`
	WALFiles   int        `json:"wal_files"`
	WALBytes   int64      `json:"wal_bytes"`
	// Gap names the first WAL segment missing after the oldest restorable
	// base backup: nothing after it can be restored from backups older
	// than it.
	Gap string `json:"gap,omitempty"`
	// SetAside is an older archive set aside in this one, not on the
	// history of the primary streamed from since (an archive itself).
	SetAside string `json:"set_aside,omitempty"`
	// Notes are what could not be found out (pg_waldump failing).
	Notes []string `json:"notes,omitempty"`
}

// ReadInfo reads what the archive in dir holds. pgBin holds pg_waldump,
// which finds the last commit; without it ("") that is left out.
func ReadInfo(ctx context.Context, dir, pgBin string) (Info, error) {
	info := Info{Dir: dir}
	if _, err := os.Stat(dir); err != nil {
		return info, err
	}
	backups, err := ListBackups(dir)
	if err != nil {
		return info, err
	}
	info.Backups = backups
	wal, err := listWAL(WALDir(dir))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return info, err
	}
	if len(backups) > 0 {
		last := backups[len(backups)-1]
		info.LastBackup = &last
	}
	if b, ok := oldestRestorable(backups, wal); ok {
		t := b.Finished
		info.OldestRestorable = &t
		if g, ok := firstGap(wal, b); ok {
			info.Gap = g.Name
		}
	}
	if asides, err := setAsides(dir); err == nil && len(asides) > 0 {
		info.SetAside = asides[len(asides)-1]
	}
	for _, f := range wal {
		info.WALFiles++
		info.WALBytes += f.Size
	}
	if f, ok := newestSegment(wal); ok {
		info.NewestWAL, info.Timeline = f.Name, f.Timeline
		t := f.ModTime.UTC()
		info.NewestWALWritten = &t
		if pgBin != "" {
			c, ok, err := lastCommit(ctx, pgBin, WALDir(dir), wal)
			switch {
			case err != nil:
				info.Notes = append(info.Notes, "last commit unknown: "+err.Error())
			case ok:
				info.LastCommit = &c
			}
		}
	}
	return info, nil
}
