package dbarchive

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestChooseBackup(t *testing.T) {
	// Base backups a (segments 2-2, finished at hour 10), b (5-6, hour
	// 34), c (9-9, hour 58); WAL from segment 2 to 10 unless a case says.
	a, b, c := bk("a", 10, 2, 2), bk("b", 34, 5, 6), bk("c", 58, 9, 9)
	full := segments(1, 2, 10, true)
	for _, tc := range []struct {
		name    string
		backups []Backup
		wal     []string
		target  float64
		want    string
		err     string
	}{
		{"the newest that ended before the target", []Backup{a, b, c}, full, 40, "b", ""},
		{"the target just after a backup ended", []Backup{a, b, c}, full, 58, "c", ""},
		{"after the newest", []Backup{a, b, c}, full, 70, "c", ""},
		{"right after the oldest", []Backup{a, b, c}, full, 10, "a", ""},
		{"before the oldest restorable point", []Backup{a, b, c}, full, 9.9, "", "is before the oldest restorable point 2026-03-01 10:00:00Z (the end of base backup a)"},
		{"no base backup", nil, full, 40, "", "the archive has no base backup yet"},
		{"the oldest has lost its WAL: the next is the oldest restorable", []Backup{a, b, c}, segments(1, 5, 10, true), 20, "", "before the oldest restorable point 2026-03-02 10:00:00Z (the end of base backup b)"},
		{"a backup whose end the archive has not received is skipped", []Backup{a, b, c}, segments(1, 2, 8, true), 70, "b", ""},
		{"no backup's WAL", []Backup{b}, segments(1, 7, 8, false), 40, "", "no base backup whose WAL it holds (1 base backups)"},
		// Segment 7 missing: from b, the archive reaches the end of
		// segment 6 (written at hour 4 in this list).
		{"a gap before the target", []Backup{a, b}, append(segments(1, 2, 6, false), segments(1, 8, 9, true)...), 40, "", "misses WAL segment 000000010000000000000007: base backup b restores to 2026-03-01 04:00:00Z at the latest"},
		{"a gap after a later backup does not matter to it", []Backup{a, b, c}, append(segments(1, 2, 7, false), segments(1, 9, 10, true)...), 40, "", "misses WAL segment 000000010000000000000008"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ChooseBackup(tc.backups, walFiles(t, tc.wal...), at(tc.target))
			if tc.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got.ID)
		})
	}
}
