package dbarchive

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseWALName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
		want WALFile
	}{
		{"000000010000000000000003", true, WALFile{Timeline: 1, Segment: 3}},
		{"0000000200000001000000FF", true, WALFile{Timeline: 2, Segment: 256 + 255}},
		{"000000020000000000000005.partial", true, WALFile{Timeline: 2, Segment: 5, Partial: true}},
		{"00000002.history", true, WALFile{Timeline: 2, History: true}},
		{"000000010000000000000003.partial.tmp", false, WALFile{}},
		{"000000010000000000000003.gz", false, WALFile{}},
		{"000000000000000000000003", false, WALFile{}}, // timeline 0 does not exist
		{"00000001000000000000000g", false, WALFile{}},
		{"000000010000000000000100", false, WALFile{}}, // 256 segments per id
		{"0000002.history", false, WALFile{}},
		{"backup_label", false, WALFile{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := parseWALName(tc.name)
			require.Equal(t, tc.ok, ok)
			if ok {
				tc.want.Name = tc.name
				assert.Equal(t, tc.want, got)
				if !got.History {
					assert.Equal(t, tc.name[:24], SegmentName(got.Timeline, got.Segment))
				}
			}
		})
	}
}

func TestLSN(t *testing.T) {
	l, err := ParseLSN("1/2000028")
	require.NoError(t, err)
	assert.Equal(t, LSN(1<<32|0x2000028), l)
	assert.Equal(t, "1/2000028", l.String())
	assert.Equal(t, uint64(256+2), l.Segment())
	for _, bad := range []string{"", "12", "1/", "x/1", "1/100000000"} {
		_, err := ParseLSN(bad)
		assert.Error(t, err, bad)
	}
}

func TestHaveSegments(t *testing.T) {
	// Timeline 2 branched off inside segment 5: its copy of 5 holds
	// timeline 1's WAL up to the switch.
	wal := walFiles(t, append(append(segments(1, 2, 5, true), "00000002.history"), segments(2, 5, 7, true)...)...)
	for _, tc := range []struct {
		name        string
		tli         uint32
		first, last uint64
		ok          bool
		missing     string
	}{
		{"timeline 1 through the switch", 1, 2, 7, true, ""},
		{"timeline 2 from the switch", 2, 5, 7, true, ""},
		{"timeline 2 before it existed", 2, 4, 5, false, "000000020000000000000004"},
		{"before the archive began", 1, 1, 3, false, "000000010000000000000001"},
		{"after its end", 1, 7, 8, false, "000000010000000000000008"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, missing := haveSegments(wal, tc.tli, tc.first, tc.last)
			assert.Equal(t, tc.ok, ok)
			assert.Equal(t, tc.missing, missing)
		})
	}
	newest, ok := newestSegment(wal)
	require.True(t, ok)
	assert.Equal(t, "000000020000000000000007.partial", newest.Name)
}

func TestCurrentSegments(t *testing.T) {
	// The old primary sent the archive segment 6 of timeline 1 before it
	// died; timeline 2 branched off in segment 5 and is in segment 6 now.
	wal := walFiles(t, append(append(segments(1, 3, 6, true), "00000002.history"), segments(2, 5, 6, true)...)...)
	newest, ok := newestSegment(wal)
	require.True(t, ok)
	assert.Equal(t, "000000020000000000000006.partial", newest.Name, "the newest timeline's, not the old primary's last words")
	var names []string
	for _, f := range currentSegments(wal) {
		names = append(names, f.Name)
	}
	assert.Equal(t, []string{"000000010000000000000003", "000000010000000000000004", "000000020000000000000005", "000000020000000000000006.partial"}, names)
	assert.Empty(t, currentSegments(walFiles(t, "00000002.history")))
}
