package dbarchive

import (
	"fmt"
	"time"
)

// restorable says whether the archive holds the WAL a base backup needs
// to become consistent.
func restorable(b Backup, wal []WALFile) bool {
	ok, _ := haveSegments(wal, b.Timeline, b.StartLSN.Segment(), b.EndLSN.Segment())
	return ok
}

// oldestRestorable is the oldest base backup a restore can start from.
func oldestRestorable(backups []Backup, wal []WALFile) (Backup, bool) {
	for _, b := range backups {
		if restorable(b, wal) {
			return b, true
		}
	}
	return Backup{}, false
}

// gap is the first segment missing from the archive after a base
// backup's start, on its timeline or a later one, and the time WAL before
// it was last received: no restore from that backup reaches past it.
type gap struct {
	Segment uint64
	Name    string
	Before  time.Time
}

func firstGap(wal []WALFile, b Backup) (gap, bool) {
	have := map[uint64]WALFile{}
	var newest uint64
	for _, f := range wal {
		if f.History || f.Timeline < b.Timeline {
			continue
		}
		have[f.Segment] = f
		newest = max(newest, f.Segment)
	}
	var last time.Time
	for s := b.StartLSN.Segment(); s <= newest; s++ {
		f, ok := have[s]
		if !ok {
			return gap{Segment: s, Name: SegmentName(b.Timeline, s), Before: last}, true
		}
		last = f.ModTime
	}
	return gap{}, false
}

// ChooseBackup picks the base backup to restore to target from: the
// newest one that finished before target and whose WAL the archive
// holds, so that recovery replays the least.
func ChooseBackup(backups []Backup, wal []WALFile, target time.Time) (Backup, error) {
	oldest, ok := oldestRestorable(backups, wal)
	if !ok {
		if len(backups) == 0 {
			return Backup{}, fmt.Errorf("the archive has no base backup yet")
		}
		return Backup{}, fmt.Errorf("the archive has no base backup whose WAL it holds (%d base backups)", len(backups))
	}
	if target.Before(oldest.Finished) {
		return Backup{}, fmt.Errorf("%s is before the oldest restorable point %s (the end of base backup %s)",
			formatTime(target), formatTime(oldest.Finished), oldest.ID)
	}
	var chosen Backup
	for _, b := range backups {
		if !b.Finished.After(target) && restorable(b, wal) {
			chosen = b
		}
	}
	if g, ok := firstGap(wal, chosen); ok && target.After(g.Before) {
		return Backup{}, fmt.Errorf("the archive misses WAL segment %s: base backup %s restores to %s at the latest, not %s",
			g.Name, chosen.ID, formatTime(g.Before), formatTime(target))
	}
	return chosen, nil
}

// formatTime is how times are shown and given to PostgreSQL: UTC,
// microseconds (PostgreSQL's precision).
func formatTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.999999Z07:00") }
