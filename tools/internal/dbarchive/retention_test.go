package dbarchive

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestExpire(t *testing.T) {
	// Daily base backups finishing at hours 0, 24, 48, 72; the archive
	// keeps 2 days. a starts in segment 2, b in 5, c in 9, d in 12.
	a, b, c, d := bk("a", 0, 2, 2), bk("b", 24, 5, 5), bk("c", 48, 9, 9), bk("d", 72, 12, 12)
	full := append(segments(1, 2, 6, false), append([]string{"00000002.history"}, segments(2, 6, 13, true)...)...)
	for _, tc := range []struct {
		name        string
		backups     []Backup
		wal         []string
		now         float64
		keepBackups []string
		removedWAL  []string
	}{
		{"nothing old enough", []Backup{a, b, c, d}, full, 47, nil, nil},
		{"the window begins as b finishes", []Backup{a, b, c, d}, full, 72, []string{"a"}, segments(1, 2, 4, false)},
		// At hour 96 the window begins at 48: c serves every point of it,
		// a and b go with the WAL before c's start.
		{"a newer backup covers the window", []Backup{a, b, c, d}, full, 96, []string{"a", "b"},
			append(segments(1, 2, 6, false), segments(2, 6, 8, false)...)},
		{"the window begins just before c finishes", []Backup{a, b, c, d}, full, 95.9, []string{"a"},
			segments(1, 2, 4, false)},
		{"the newest is kept however old", []Backup{a}, full, 1000, nil, nil},
		{"WAL older than the only backup", []Backup{b}, full, 30, nil, segments(1, 2, 4, false)},
		// c is not restorable (segment 9 is missing), so it cannot stand
		// in for b.
		{"an unrestorable backup supersedes nothing", []Backup{a, b, c, d},
			append(segments(1, 2, 8, false), segments(1, 10, 13, true)...), 96, []string{"a"}, segments(1, 2, 4, false)},
		{"no backups, no removal", nil, full, 96, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := expire(tc.backups, walFiles(t, tc.wal...), at(tc.now), 48*time.Hour)
			var gotBackups, gotWAL []string
			for _, b := range e.Backups {
				gotBackups = append(gotBackups, b.ID)
			}
			for _, f := range e.WAL {
				gotWAL = append(gotWAL, f.Name)
			}
			assert.Equal(t, tc.keepBackups, gotBackups, "base backups removed")
			assert.Equal(t, tc.removedWAL, gotWAL, "WAL removed")
		})
	}
}
