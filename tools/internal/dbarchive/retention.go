package dbarchive

import "time"

// expiry is what retention removes from the archive.
type expiry struct {
	Backups []Backup
	WAL     []WALFile
}

// expire decides what retention removes from backups (oldest first),
// keeping every moment of the last keep restorable: a base backup goes
// once a newer restorable one finished before the window began (that one
// serves every point of the window), so the newest is never removed. WAL
// goes when it is older than the oldest base backup kept: no restore can
// use it. History files stay: they are tiny and recovery needs them to
// follow timelines.
func expire(backups []Backup, wal []WALFile, now time.Time, keep time.Duration) expiry {
	var out expiry
	if len(backups) == 0 {
		return out
	}
	windowStart := now.Add(-keep)
	cut := 0
	for i, b := range backups {
		if !b.Finished.After(windowStart) && restorable(b, wal) {
			cut = i
		}
	}
	out.Backups = append(out.Backups, backups[:cut]...)
	oldestKept := backups[cut].StartLSN.Segment()
	for _, f := range wal {
		if !f.History && f.Segment < oldestKept {
			out.WAL = append(out.WAL, f)
		}
	}
	return out
}
