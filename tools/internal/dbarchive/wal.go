package dbarchive

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// SegmentSize is PostgreSQL's WAL segment size: initdb's default, which
// the pool's members keep.
const SegmentSize = 16 << 20

// segmentsPerID is how many segments one "xlogid" (the middle part of a
// segment's file name) holds.
const segmentsPerID = 0x100000000 / SegmentSize

// LSN is a WAL position.
type LSN uint64

// ParseLSN reads PostgreSQL's X/Y form.
func ParseLSN(s string) (LSN, error) {
	hi, lo, ok := strings.Cut(s, "/")
	h, err1 := strconv.ParseUint(hi, 16, 32)
	l, err2 := strconv.ParseUint(lo, 16, 32)
	if !ok || err1 != nil || err2 != nil {
		return 0, fmt.Errorf("%q is not a WAL position (X/Y)", s)
	}
	return LSN(h<<32 | l), nil
}

func (l LSN) String() string { return fmt.Sprintf("%X/%X", uint64(l)>>32, uint64(l)&0xFFFFFFFF) }

// Segment is the number of the segment holding l.
func (l LSN) Segment() uint64 { return uint64(l) / SegmentSize }

// MarshalText writes the X/Y form (JSON).
func (l LSN) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

// UnmarshalText reads the X/Y form (JSON).
func (l *LSN) UnmarshalText(b []byte) error {
	v, err := ParseLSN(string(b))
	*l = v
	return err
}

// WALFile is one file pg_receivewal wrote: a segment, complete or still
// being written (.partial: the newest one, or the last one of a timeline
// that ended inside it), or a timeline's history file.
type WALFile struct {
	Name     string
	Timeline uint32
	// Segment is the segment's number (not set for a history file).
	Segment uint64
	Partial bool
	History bool
	Size    int64
	ModTime time.Time
}

// SegmentName is the file name PostgreSQL asks restore_command for.
func SegmentName(timeline uint32, segment uint64) string {
	return fmt.Sprintf("%08X%08X%08X", timeline, segment/segmentsPerID, segment%segmentsPerID)
}

// parseWALName recognises the names pg_receivewal writes; anything else
// (its temporary files, a stray file) is not part of the archive.
func parseWALName(name string) (WALFile, bool) {
	f := WALFile{Name: name}
	base := name
	if b, ok := strings.CutSuffix(name, ".history"); ok {
		if len(b) != 8 || !isHex(b) {
			return f, false
		}
		tli, _ := strconv.ParseUint(b, 16, 32)
		f.Timeline, f.History = uint32(tli), true
		return f, true
	}
	if b, ok := strings.CutSuffix(name, ".partial"); ok {
		base, f.Partial = b, true
	}
	if len(base) != 24 || !isHex(base) {
		return f, false
	}
	tli, _ := strconv.ParseUint(base[:8], 16, 32)
	id, _ := strconv.ParseUint(base[8:16], 16, 32)
	seg, _ := strconv.ParseUint(base[16:], 16, 32)
	if tli == 0 || seg >= segmentsPerID {
		return f, false
	}
	f.Timeline, f.Segment = uint32(tli), id*segmentsPerID+seg
	return f, true
}

func isHex(s string) bool {
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'A' && r <= 'F') {
			return false
		}
	}
	return true
}

// listWAL lists the archive's WAL files, segments by segment number and
// timeline, history files first.
func listWAL(dir string) ([]WALFile, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list the archived WAL: %w", err)
	}
	var out []WALFile
	for _, e := range entries {
		f, ok := parseWALName(e.Name())
		if !ok || !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		f.Size, f.ModTime = info.Size(), info.ModTime()
		out = append(out, f)
	}
	sortWAL(out)
	return out, nil
}

func sortWAL(files []WALFile) {
	sort.Slice(files, func(i, j int) bool {
		a, b := files[i], files[j]
		if a.History != b.History {
			return a.History
		}
		if a.Segment != b.Segment {
			return a.Segment < b.Segment
		}
		if a.Timeline != b.Timeline {
			return a.Timeline < b.Timeline
		}
		return !a.Partial && b.Partial
	})
}

// haveSegments says whether every segment from first to last is in the
// archive, complete or partial, on timeline tli or a later one (a later
// timeline's copy of a segment holds the earlier timeline's WAL up to
// where it branched off), and names the first one missing.
func haveSegments(files []WALFile, tli uint32, first, last uint64) (bool, string) {
	have := map[uint64]bool{}
	for _, f := range files {
		if !f.History && f.Timeline >= tli {
			have[f.Segment] = true
		}
	}
	for s := first; s <= last; s++ {
		if !have[s] {
			return false, SegmentName(tli, s)
		}
	}
	return true, ""
}

// newestSegment is the archive's newest segment file: the highest one
// of the newest timeline. An older timeline may reach further (WAL the
// old primary sent the archive but not its successor), but that is not
// what happened.
func newestSegment(files []WALFile) (WALFile, bool) {
	var newest WALFile
	found := false
	for _, f := range files {
		if f.History {
			continue
		}
		if !found || f.Timeline > newest.Timeline || f.Timeline == newest.Timeline && f.Segment >= newest.Segment {
			newest, found = f, true
		}
	}
	return newest, found
}

// currentSegments are the segment files recovery to the newest timeline
// reads, oldest first: for each segment up to the newest timeline's
// newest, the copy on the highest timeline.
func currentSegments(files []WALFile) []WALFile {
	last, ok := newestSegment(files)
	if !ok {
		return nil
	}
	bySegment := map[uint64]WALFile{}
	var segs []uint64
	for _, f := range files { // segment, then timeline order: the highest timeline last
		if f.History || f.Segment > last.Segment || f.Timeline > last.Timeline {
			continue
		}
		if _, seen := bySegment[f.Segment]; !seen {
			segs = append(segs, f.Segment)
		}
		bySegment[f.Segment] = f
	}
	out := make([]WALFile, len(segs))
	for i, s := range segs {
		out[i] = bySegment[s]
	}
	return out
}

// walPath is where the archive keeps a WAL file.
func walPath(dir string, f WALFile) string { return filepath.Join(dir, f.Name) }
