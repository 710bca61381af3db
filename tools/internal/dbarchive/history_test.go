package dbarchive

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOnHistory(t *testing.T) {
	const sys = 7300000000000000001
	// The primary is on timeline 3, which left timeline 1 at 0/5000100
	// (a failover) and timeline 2 at 0/9000000 (a restore).
	primary := serverPosition{System: sys, Timeline: 3, Flush: 0xC000000,
		History: []timelineSwitch{{1, 0x5000100, promotion}, {2, 0x9000000, "before transaction 1234"}}}
	for _, tc := range []struct {
		name    string
		archive archiveEnd
		server  serverPosition
		on      bool
		why     string
		tail    *pastBranch
	}{
		{"empty archive", archiveEnd{Empty: true}, primary, true, "", nil},
		{"empty archive, any system", archiveEnd{Empty: true}, serverPosition{System: 1, Timeline: 1}, true, "", nil},
		{"same timeline, behind", archiveEnd{System: sys, Timeline: 3, End: 0xB000000, Resume: 0xB000000}, primary, true, "", nil},
		{"same timeline, at the flush position", archiveEnd{System: sys, Timeline: 3, End: 0xC000000, Resume: 0xC000000}, primary, true, "", nil},
		{"same timeline, ahead", archiveEnd{System: sys, Timeline: 3, End: 0xC000001, Resume: 0xC000000}, primary, false,
			"the archive holds timeline 3 up to 0/C000001, past the primary's WAL on it (flushed to 0/C000000)", nil},
		{"ancestor, before its switch point", archiveEnd{System: sys, Timeline: 1, End: 0x5000000, Resume: 0x5000000}, primary, true, "", nil},
		{"ancestor, at its switch point", archiveEnd{System: sys, Timeline: 1, End: 0x5000100, Resume: 0x5000000}, primary, true, "", nil},
		{"ancestor, past its switch point (a restore)", archiveEnd{System: sys, Timeline: 1, End: 0x6000000, Resume: 0x6000000}, primary, false,
			"the primary's timeline 2 branched from timeline 1 at 0/5000100, the archive holds timeline 1 up to 0/6000000", nil},
		// A failover: the old primary streamed past where its standby's
		// WAL ended; the archive's partial segment is written again from
		// its start, up to the branch.
		{"ancestor, past its switch point inside the partial segment pg_receivewal writes again (a failover)",
			archiveEnd{System: sys, Timeline: 1, End: 0x5015289, Resume: 0x5000000, Partial: true, File: "000000010000000000000005.partial"},
			primary, true, "",
			&pastBranch{File: "000000010000000000000005.partial", Timeline: 1, Next: 2, Branch: 0x5000100, End: 0x5015289}},
		// The branch at the partial segment's first byte: the old
		// timeline has nothing to stream from there.
		{"ancestor, a partial segment starting at a failover's branch",
			archiveEnd{System: sys, Timeline: 1, End: 0x6000200, Resume: 0x6000000, Partial: true, File: "000000010000000000000006.partial"},
			serverPosition{System: sys, Timeline: 2, Flush: 0x8000000, History: []timelineSwitch{{1, 0x6000000, promotion}}}, false,
			"the primary's timeline 2 branched from timeline 1 at 0/6000000, the archive holds timeline 1 up to 0/6000200", nil},
		{"ancestor, a complete segment past its switch point",
			archiveEnd{System: sys, Timeline: 1, End: 0x6000000, Resume: 0x6000000, File: "000000010000000000000005"},
			primary, false, "the primary's timeline 2 branched from timeline 1 at 0/5000100, the archive holds timeline 1 up to 0/6000000", nil},
		{"ancestor, a partial segment starting past its switch point",
			archiveEnd{System: sys, Timeline: 1, End: 0x6000200, Resume: 0x6000000, Partial: true, File: "000000010000000000000006.partial"},
			primary, false, "the primary's timeline 2 branched from timeline 1 at 0/5000100, the archive holds timeline 1 up to 0/6000200", nil},
		// A restore to a point inside the archive's newest segment: past
		// the branch are the old cluster's commits, set aside whole.
		{"parent, past a restore's branch inside the partial segment",
			archiveEnd{System: sys, Timeline: 2, End: 0x9000200, Resume: 0x9000000, Partial: true, File: "000000020000000000000009.partial"},
			primary, false, "the primary's timeline 3 branched from timeline 2 at 0/9000000, the archive holds timeline 2 up to 0/9000200", nil},
		{"parent, past its switch point", archiveEnd{System: sys, Timeline: 2, End: 0xA000000, Resume: 0xA000000}, primary, false,
			"the primary's timeline 3 branched from timeline 2 at 0/9000000, the archive holds timeline 2 up to 0/A000000", nil},
		// Restored to a point on timeline 1 recovering along timeline 2:
		// timeline 3's history names 2 ending where the restore stopped,
		// before 1 ended.
		{"ancestor, past where a restore along a later timeline stopped",
			archiveEnd{System: sys, Timeline: 1, End: 0x5000000, Resume: 0x5000000},
			serverPosition{System: sys, Timeline: 3, Flush: 0x8000000, History: []timelineSwitch{{1, 0x5014000, promotion}, {2, 0x4FFF000, "before 2024-05-01 10:00:00+00"}}}, false,
			"the primary's timeline 3 branched from timeline 1 at 0/4FFF000, the archive holds timeline 1 up to 0/5000000", nil},
		{"unknown timeline", archiveEnd{System: sys, Timeline: 4, End: 0x2000000, Resume: 0x2000000},
			serverPosition{System: sys, Timeline: 5, Flush: 0x8000000, History: []timelineSwitch{{1, 0x1800000, promotion}}}, false,
			"the archive holds timeline 4 up to 0/2000000, which is not in the primary's history (timeline 5 after 1 until 0/1800000)", nil},
		{"a later timeline than the primary's", archiveEnd{System: sys, Timeline: 2, End: 0x1000000, Resume: 0x1000000},
			serverPosition{System: sys, Timeline: 1, Flush: 0x8000000}, false,
			"the archive holds timeline 2 up to 0/1000000, which is not in the primary's history (timeline 1, the first)", nil},
		{"different system", archiveEnd{System: sys + 1, Timeline: 1, End: 0x1000000, Resume: 0x1000000},
			serverPosition{System: sys, Timeline: 1, Flush: 0x8000000}, false,
			"the archive holds WAL of database system 7300000000000000002, the primary is system 7300000000000000001", nil},
		{"system unknown, positions decide", archiveEnd{Timeline: 3, End: 0x1000000, Resume: 0x1000000}, primary, true, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			on, why, tail := onHistory(tc.archive, tc.server)
			assert.Equal(t, tc.on, on)
			assert.Equal(t, tc.why, why)
			assert.Equal(t, tc.tail, tail)
		})
	}
}

func TestParseHistory(t *testing.T) {
	h, err := parseHistory([]byte("1\t0/5000100\tno recovery target specified\n\n2\t0/9000000\tat restore point \"x\"\n"))
	require.NoError(t, err)
	assert.Equal(t, []timelineSwitch{{1, 0x5000100, promotion}, {2, 0x9000000, `at restore point "x"`}}, h)
	_, err = parseHistory([]byte("1\tnot-an-lsn\n"))
	assert.Error(t, err)
}

// segmentFile writes a segment file whose first page header names system
// and whose received WAL ends at used bytes.
func segmentFile(t *testing.T, dir, name string, system uint64, used int) {
	t.Helper()
	b := make([]byte, SegmentSize)
	binary.LittleEndian.PutUint16(b[0:], 0xD110)
	binary.LittleEndian.PutUint16(b[2:], 0x0002)
	binary.LittleEndian.PutUint64(b[24:], system)
	binary.LittleEndian.PutUint32(b[32:], SegmentSize)
	for i := 40; i < used; i++ {
		b[i] = 1
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, name), b, 0o600))
}

func TestReadArchiveEnd(t *testing.T) {
	dir := t.TempDir()
	end, err := readArchiveEnd(dir)
	require.NoError(t, err)
	assert.True(t, end.Empty)

	segmentFile(t, dir, "000000010000000000000004", 42, SegmentSize)
	segmentFile(t, dir, "000000010000000000000005.partial", 42, 0x1234)
	end, err = readArchiveEnd(dir)
	require.NoError(t, err)
	assert.Equal(t, archiveEnd{System: 42, Timeline: 1, End: 0x5001234, Resume: 0x5000000, Partial: true, File: "000000010000000000000005.partial"}, end)

	segmentFile(t, dir, "000000020000000000000005", 42, SegmentSize)
	end, err = readArchiveEnd(dir)
	require.NoError(t, err)
	assert.Equal(t, archiveEnd{System: 42, Timeline: 2, End: 0x6000000, Resume: 0x6000000, File: "000000020000000000000005"}, end)
}

// Clearing a failover's tail leaves the partial segment ending at the
// branch, and the archive continuing the new primary's history.
func TestClearPastBranch(t *testing.T) {
	dir := t.TempDir()
	segmentFile(t, dir, "000000010000000000000005.partial", 42, 0x15289)
	end, err := readArchiveEnd(dir)
	require.NoError(t, err)
	primary := serverPosition{System: 42, Timeline: 2, Flush: 0x6000000, History: []timelineSwitch{{1, 0x5014D68, promotion}}}
	on, why, tail := onHistory(end, primary)
	require.True(t, on, why)
	require.NotNil(t, tail)
	assert.Equal(t, "the archive's timeline 1 ran on to 0/5015289 past 0/5014D68, where the primary's timeline 2 branched from it: WAL the new primary never received (commits no client was told of), cleared from 000000010000000000000005.partial", tail.String())
	require.NoError(t, clearPastBranch(dir, *tail))
	end, err = readArchiveEnd(dir)
	require.NoError(t, err)
	assert.Equal(t, LSN(0x5014D68), end.End, "the received WAL ends at the branch")
	on, _, tail = onHistory(end, primary)
	assert.True(t, on)
	assert.Nil(t, tail, "nothing left past the branch")

	assert.Error(t, clearPastBranch(dir, pastBranch{File: "000000010000000000000006.partial", Branch: 0x5014D68, End: 0x6000100}), "a range outside the named segment")
}

func TestSetAside(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{WALDir(dir), baseDir(dir)} {
		require.NoError(t, os.Mkdir(d, 0o700))
	}
	require.NoError(t, os.WriteFile(filepath.Join(WALDir(dir), "000000010000000000000004"), nil, 0o600))
	first, err := setAside(dir, mustTime(t, "2024-05-01T10:00:00Z"))
	require.NoError(t, err)
	assert.FileExists(t, filepath.Join(WALDir(first), "000000010000000000000004"))
	assert.DirExists(t, baseDir(first))
	entries, err := os.ReadDir(WALDir(dir))
	require.NoError(t, err)
	assert.Empty(t, entries, "the archive starts afresh")

	// A second set-aside keeps only the newest.
	second, err := setAside(dir, mustTime(t, "2024-05-02T10:00:00Z"))
	require.NoError(t, err)
	asides, err := setAsides(dir)
	require.NoError(t, err)
	assert.Equal(t, []string{second}, asides)
	assert.Equal(t, filepath.Join(dir, "set-aside-20240502T100000Z"), second)

	// One interrupted after moving wal/ is finished at start.
	require.NoError(t, os.Mkdir(filepath.Join(dir, ".set-aside-20240503T100000Z"), 0o700))
	require.NoError(t, os.Rename(WALDir(dir), filepath.Join(dir, ".set-aside-20240503T100000Z", walSubdir)))
	third, err := finishPendingSetAside(dir)
	require.NoError(t, err)
	assert.DirExists(t, WALDir(third))
	assert.DirExists(t, baseDir(third))
	assert.NoDirExists(t, baseDir(dir))
	asides, err = setAsides(dir)
	require.NoError(t, err)
	assert.Equal(t, []string{third}, asides)
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	require.NoError(t, err)
	return v
}
