package dbarchive

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/scryptpool/poolmicrocloud/tools/internal/ledger"
)

// A cluster restored from the archive keeps the old cluster's system
// identifier but promotes onto a new timeline branching where the
// restore stopped, while the archive still holds the old cluster's WAL
// past that point. pg_receivewal resumes at the archive's newest segment
// and a server whose history does not hold it refuses it for ever; a
// different cluster on the same timeline would even be appended to the
// old one's WAL. So before streaming, the archive's newest WAL is checked
// against the primary's history.

// archiveEnd is where the archive's WAL ends: the newest timeline's
// newest segment file.
type archiveEnd struct {
	// Empty: no segment at all; anything may follow.
	Empty bool
	// System is the database system identifier in the segment's header
	// (0 when unreadable).
	System   uint64
	Timeline uint32
	End      LSN
	// Resume is where pg_receivewal starts streaming into this archive:
	// at the start of a partial newest segment (it writes that segment
	// again from its first byte), at the end of a complete one.
	Resume  LSN
	Partial bool
	File    string
}

// timelineSwitch is one line of a timeline history file: Timeline ended
// at End, where its successor began.
type timelineSwitch struct {
	Timeline uint32
	End      LSN
	// Reason is PostgreSQL's word for the switch: "no recovery target
	// specified" for a promotion (a failover), where recovery stopped
	// for a restore to a point ("before transaction 1234", "at restore
	// point ...").
	Reason string
}

// promotion is the reason PostgreSQL writes for a timeline that began
// with a promotion, not at a recovery target.
const promotion = "no recovery target specified"

// serverPosition is what IDENTIFY_SYSTEM and TIMELINE_HISTORY tell of the
// primary.
type serverPosition struct {
	System   uint64
	Timeline uint32
	Flush    LSN
	// History are the primary's timeline's ancestors, oldest first.
	History []timelineSwitch
}

// pastBranch is WAL of the archive's newest segment, a partial one, past
// where the primary's timeline Next branched from Timeline at Branch, up
// to End.
type pastBranch struct {
	File           string
	Timeline, Next uint32
	Branch, End    LSN
}

func (p pastBranch) String() string {
	return fmt.Sprintf("the archive's timeline %d ran on to %s past %s, where the primary's timeline %d branched from it: WAL the new primary never received (commits no client was told of), cleared from %s",
		p.Timeline, p.End, p.Branch, p.Next, p.File)
}

// onHistory says whether streaming from the primary continues the
// archive: whether the archive's WAL is a prefix of the primary's
// history, or, past a promotion's branch (a failover, not a restore),
// runs on only inside a partial segment that starts before the branch.
// When it does not, why says why in words for the log; in the second
// case, tail is the WAL past the branch, to clear before streaming.
//
// The second case is a failover's: the old primary streamed WAL to the
// archive that its standby never received (with synchronous replication,
// commits no client was told of). The promoted standby's timeline
// branches before it. pg_receivewal asks for the old timeline from the
// start of its partial segment, up to the branch, then follows the
// switch, and the new timeline's copy of that segment starts at the
// segment's first byte too. With the tail cleared, no recovery can read
// it, not even one that finds the new timeline's history and not yet its
// copy of the segment. A segment starting at the branch itself is set
// aside: the old timeline has nothing to stream from there, and
// pg_receivewal fails on it. Setting the archive aside otherwise would
// leave it restorable to no point until its next base backup, after
// every failover with writes in flight.
func onHistory(a archiveEnd, s serverPosition) (on bool, why string, tail *pastBranch) {
	if a.Empty {
		return true, "", nil
	}
	if a.System != 0 && a.System != s.System {
		return false, fmt.Sprintf("the archive holds WAL of database system %d, the primary is system %d", a.System, s.System), nil
	}
	if a.Timeline == s.Timeline {
		if a.End <= s.Flush {
			return true, "", nil
		}
		return false, fmt.Sprintf("the archive holds timeline %d up to %s, past the primary's WAL on it (flushed to %s)", a.Timeline, a.End, s.Flush), nil
	}
	for i, h := range s.History {
		if h.Timeline != a.Timeline {
			continue
		}
		// A restore to a point on an ancestor of the timeline it recovers
		// along writes that timeline's history, then where it stopped: the
		// primary's history holds the ancestor only up to the earliest
		// switch point from it on.
		end, next, reason := h.End, successor(s, i), h.Reason
		for j := i + 1; j < len(s.History); j++ {
			if s.History[j].End < end {
				end, next, reason = s.History[j].End, successor(s, j), s.History[j].Reason
			}
		}
		if a.End <= end {
			return true, "", nil
		}
		// A restore's branch is set aside: past it the archive holds the
		// old cluster's commits, kept whole beside the new archive.
		if a.Resume < end && a.Partial && reason == promotion {
			return true, "", &pastBranch{File: a.File, Timeline: a.Timeline, Next: next, Branch: end, End: a.End}
		}
		return false, fmt.Sprintf("the primary's timeline %d branched from timeline %d at %s, the archive holds timeline %d up to %s",
			next, a.Timeline, end, a.Timeline, a.End), nil
	}
	return false, fmt.Sprintf("the archive holds timeline %d up to %s, which is not in the primary's history (timeline %d%s)",
		a.Timeline, a.End, s.Timeline, describeHistory(s.History)), nil
}

// successor is the timeline that began where history entry i ended.
func successor(s serverPosition, i int) uint32 {
	if i+1 < len(s.History) {
		return s.History[i+1].Timeline
	}
	return s.Timeline
}

func describeHistory(h []timelineSwitch) string {
	if len(h) == 0 {
		return ", the first"
	}
	parts := make([]string, len(h))
	for i, s := range h {
		parts[i] = fmt.Sprintf("%d until %s", s.Timeline, s.End)
	}
	return " after " + strings.Join(parts, ", ")
}

// parseHistory reads a timeline history file: "parent-tli switchpoint
// reason" per line, comments and blank lines aside.
func parseHistory(content []byte) ([]timelineSwitch, error) {
	var out []timelineSwitch
	sc := bufio.NewScanner(bytes.NewReader(content))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			return nil, fmt.Errorf("timeline history line %q", line)
		}
		tli, err := strconv.ParseUint(f[0], 10, 32)
		if err != nil {
			return nil, fmt.Errorf("timeline history line %q: %w", line, err)
		}
		end, err := ParseLSN(f[1])
		if err != nil {
			return nil, fmt.Errorf("timeline history line %q: %w", line, err)
		}
		out = append(out, timelineSwitch{Timeline: uint32(tli), End: end, Reason: strings.Join(f[2:], " ")})
	}
	return out, sc.Err()
}

// readArchiveEnd finds where the archive's WAL in walDir ends. A
// complete segment ends at its end; a partial one where its received
// bytes end (pg_receivewal fills the rest with zeroes): at its last
// non-zero byte, which is at most a record's alignment short of it.
func readArchiveEnd(walDir string) (archiveEnd, error) {
	files, err := listWAL(walDir)
	if err != nil {
		return archiveEnd{}, err
	}
	f, ok := newestSegment(files)
	if !ok {
		return archiveEnd{Empty: true}, nil
	}
	a := archiveEnd{Timeline: f.Timeline, File: f.Name, End: LSN((f.Segment + 1) * SegmentSize)}
	a.Resume = a.End
	fh, err := os.Open(walPath(walDir, f))
	if err != nil {
		return a, err
	}
	defer fh.Close()
	a.System = readSystemID(fh)
	if f.Partial {
		n, err := lastNonZero(fh, f.Size)
		if err != nil {
			return a, fmt.Errorf("read %s: %w", f.Name, err)
		}
		a.End = LSN(f.Segment*SegmentSize + uint64(n))
		a.Resume, a.Partial = LSN(f.Segment*SegmentSize), true
	}
	return a, nil
}

// readSystemID reads the database system identifier from a segment's
// first page header (XLogLongPageHeaderData: xlp_sysid at 24, the
// segment size at 32), or 0 when it is not there.
func readSystemID(r io.ReaderAt) uint64 {
	var h [40]byte
	if _, err := r.ReadAt(h[:], 0); err != nil {
		return 0
	}
	const longHeader = 0x0002 // XLP_LONG_HEADER in xlp_info
	info := binary.LittleEndian.Uint16(h[2:])
	if info&longHeader == 0 || binary.LittleEndian.Uint32(h[32:]) != SegmentSize {
		return 0
	}
	return binary.LittleEndian.Uint64(h[24:])
}

// lastNonZero is the offset just past the last non-zero byte of the
// first size bytes of r.
func lastNonZero(r io.ReaderAt, size int64) (int64, error) {
	buf := make([]byte, 1<<20)
	for end := size; end > 0; {
		start := max(end-int64(len(buf)), 0)
		chunk := buf[:end-start]
		if _, err := r.ReadAt(chunk, start); err != nil && err != io.EOF {
			return 0, err
		}
		for i := len(chunk) - 1; i >= 0; i-- {
			if chunk[i] != 0 {
				return start + int64(i) + 1, nil
			}
		}
		end = start
	}
	return 0, nil
}

// identify asks member over a physical replication connection, as
// pg_receivewal connects, for its system identifier, timeline, flush
// position and its timeline's history.
func identify(ctx context.Context, member ledger.Member, l login, application string) (serverPosition, error) {
	var s serverPosition
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	cfg, err := pgconn.ParseConfig(connString([]ledger.Member{member}, l.user, application, "any") + " replication=true")
	if err != nil {
		return s, err
	}
	cfg.Password = l.password
	conn, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return s, fmt.Errorf("replication connection to %s: %s", member, oneLine(err))
	}
	defer conn.Close(context.Background())
	rows, err := replicationCommand(ctx, conn, "IDENTIFY_SYSTEM", 3)
	if err != nil {
		return s, fmt.Errorf("%s: %w", member, err)
	}
	sys, err1 := strconv.ParseUint(string(rows[0]), 10, 64)
	tli, err2 := strconv.ParseUint(string(rows[1]), 10, 32)
	flush, err3 := ParseLSN(string(rows[2]))
	if err1 != nil || err2 != nil || err3 != nil {
		return s, fmt.Errorf("%s: IDENTIFY_SYSTEM answered %q", member, rows)
	}
	s.System, s.Timeline, s.Flush = sys, uint32(tli), flush
	if s.Timeline == 1 {
		return s, nil
	}
	rows, err = replicationCommand(ctx, conn, fmt.Sprintf("TIMELINE_HISTORY %d", s.Timeline), 2)
	if err != nil {
		return s, fmt.Errorf("%s: %w", member, err)
	}
	if s.History, err = parseHistory(rows[1]); err != nil {
		return s, fmt.Errorf("%s: %s: %w", member, rows[0], err)
	}
	return s, nil
}

// replicationCommand runs a replication command answering one row of at
// least columns columns.
func replicationCommand(ctx context.Context, conn *pgconn.PgConn, command string, columns int) ([][]byte, error) {
	results, err := conn.Exec(ctx, command).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", command, err)
	}
	if len(results) != 1 || len(results[0].Rows) != 1 || len(results[0].Rows[0]) < columns {
		return nil, fmt.Errorf("%s: not one row of %d columns", command, columns)
	}
	return results[0].Rows[0], nil
}

// clearPastBranch writes zeroes over t's WAL in walDir (pg_receivewal's
// padding: where a partial segment's received WAL ends), and syncs it.
func clearPastBranch(walDir string, t pastBranch) error {
	f, ok := parseWALName(t.File)
	if !ok || !f.Partial || t.End <= t.Branch || uint64(t.Branch)/SegmentSize != f.Segment {
		return fmt.Errorf("clear %s from %s to %s: not inside that partial segment", t.File, t.Branch, t.End)
	}
	fh, err := os.OpenFile(filepath.Join(walDir, t.File), os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	offset := int64(uint64(t.Branch) - f.Segment*SegmentSize)
	if _, err := fh.WriteAt(make([]byte, int64(t.End-t.Branch)), offset); err != nil {
		fh.Close()
		return fmt.Errorf("clear %s: %w", t.File, err)
	}
	if err := fh.Sync(); err != nil {
		fh.Close()
		return fmt.Errorf("clear %s: %w", t.File, err)
	}
	return fh.Close()
}
