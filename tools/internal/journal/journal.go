// Package journal is an append-only log on local disk that makes a record
// durable before its writer goes on. A stratum server answers "accepted"
// only once the share is here, so a power cut loses no accepted share
// even while the database is away.
//
// Each record carries a ticket: a number the caller gives in increasing
// order of its own bookkeeping (the ledger's buffer position). Release(t)
// says that every record with a ticket up to t is stored elsewhere; the
// journal then drops the segments that hold only such records. Appends
// are grouped: one fdatasync covers every record written while the
// previous one ran, so a slow SD card costs latency, not throughput.
//
// On disk: DIR/LOCK (flock, one process at a time) and segment files
// DIR/segment-<seq>.journal of records [length u32][crc32c u32][payload],
// little-endian. A record cut short by a power cut fails its length or
// checksum and ends the segment's replay.
package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/scryptpool/poolmicrocloud/tools/internal/durable"
)

const (
	lockName      = "LOCK"
	segmentPrefix = "segment-"
	segmentSuffix = ".journal"
	headerSize    = 8
	// MaxRecord bounds a record's payload; a longer length in a header
	// is a torn or foreign file, not a record.
	MaxRecord = 1 << 20
	// badSuffix marks a segment whose records the caller could not take
	// back: set aside for a person, not replayed again.
	badSuffix = ".bad"
)

var (
	// ErrClosed is returned by Append after Close.
	ErrClosed = errors.New("journal closed")
	// ErrBroken is returned once a write or sync failed: what was
	// written since the last good sync may not be on disk, and the
	// journal refuses to promise more.
	ErrBroken = errors.New("journal broken")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Options tune a Journal; zero values take the defaults.
type Options struct {
	// SegmentBytes is the size past which the active segment is sealed
	// and a new one begun (4 MiB, about 15,000 shares), so that a
	// segment can be dropped while shares keep coming.
	SegmentBytes int64
	// SegmentAge is how long the active segment may hold records before
	// Release seals it (1 minute). Records stored elsewhere thus leave
	// within about that long even when the segment is never empty at a
	// Release: a record replayed long after it was stored could be stored
	// again once the copy elsewhere is gone (pruned).
	SegmentAge time.Duration
}

type segment struct {
	seq       uint64
	path      string
	maxTicket uint64
	records   int
	size      int64
	firstAt   time.Time // when its first record was appended
}

// Journal is safe for concurrent use.
type Journal struct {
	dir  string
	opts Options
	lock *os.File

	// syncMu is taken before mu. It is held across an fdatasync and by
	// whatever replaces or truncates the active file.
	syncMu sync.Mutex
	synced uint64 // appends up to this count are on disk

	mu      sync.Mutex
	active  *os.File
	current *segment
	sealed  []*segment
	old     []*segment // found at Open, not yet replayed
	written uint64     // appends written to the active file, ever
	nextSeq uint64
	broken  error
	closed  bool
	stats   Stats
}

// Stats are a Journal's counters.
type Stats struct {
	Appended uint64 // records appended
	Syncs    uint64 // fdatasync calls; Appended/Syncs is the grouping
	Released uint64 // segments dropped or truncated as stored elsewhere
	Segments int    // segment files now, the active one included
	Bytes    int64  // their size
}

// Open locks dir (creating it) and begins a new active segment. Segments
// left by an earlier process wait for Replay.
func Open(dir string, opts Options) (*Journal, error) {
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = 4 << 20
	}
	if opts.SegmentAge <= 0 {
		opts.SegmentAge = time.Minute
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("journal %s: %w", dir, err)
	}
	// The directory itself must survive a power cut on the first start.
	if err := durable.SyncDir(filepath.Dir(filepath.Clean(dir))); err != nil {
		return nil, fmt.Errorf("journal %s: %w", dir, err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, lockName), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("journal %s: %w", dir, err)
	}
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		lock.Close()
		return nil, fmt.Errorf("journal %s is in use by another process: %w", dir, err)
	}
	j := &Journal{dir: dir, opts: opts, lock: lock}
	old, err := listSegments(dir)
	if err != nil {
		lock.Close()
		return nil, err
	}
	j.old = old
	if len(old) > 0 {
		j.nextSeq = old[len(old)-1].seq + 1
	}
	if err := j.startSegmentLocked(); err != nil {
		lock.Close()
		return nil, err
	}
	return j, nil
}

func listSegments(dir string) ([]*segment, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("journal %s: %w", dir, err)
	}
	var segs []*segment
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, segmentPrefix) || !strings.HasSuffix(name, segmentSuffix) {
			continue
		}
		seq, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(name, segmentPrefix), segmentSuffix), 10, 64)
		if err != nil {
			continue
		}
		segs = append(segs, &segment{seq: seq, path: filepath.Join(dir, name)})
	}
	slices.SortFunc(segs, func(a, b *segment) int {
		switch {
		case a.seq < b.seq:
			return -1
		case a.seq > b.seq:
			return 1
		}
		return 0
	})
	return segs, nil
}

func segmentName(seq uint64) string {
	return fmt.Sprintf("%s%020d%s", segmentPrefix, seq, segmentSuffix)
}

// startSegmentLocked creates the next segment file and makes its name
// durable; j.mu (and, once running, j.syncMu) must be held.
func (j *Journal) startSegmentLocked() error {
	seg := &segment{seq: j.nextSeq, path: filepath.Join(j.dir, segmentName(j.nextSeq))}
	f, err := os.OpenFile(seg.path, os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("journal: new segment: %w", err)
	}
	if err := durable.SyncDir(j.dir); err != nil {
		f.Close()
		return fmt.Errorf("journal: new segment: %w", err)
	}
	j.nextSeq++
	j.active, j.current = f, seg
	return nil
}

// Replayed says what Replay found.
type Replayed struct {
	Segments  int
	Records   int
	TornBytes int64 // bytes after the last whole record of a segment
	// SetAside names segments with a record fn refused, renamed to
	// *.bad: kept for a person, never replayed again. Their records
	// before the refused one were taken back all the same.
	SetAside []string
}

// Replay hands every record left by an earlier process to fn, oldest
// first; fn returns the ticket the record now has. Those segments then
// wait for Release like any other. A segment with a record fn refuses
// is set aside (Replayed.SetAside) and the replay goes on: one bad
// record must not stop every later start.
func (j *Journal) Replay(fn func(payload []byte) (ticket uint64, err error)) (Replayed, error) {
	j.mu.Lock()
	old := j.old
	j.old = nil
	j.mu.Unlock()
	var r Replayed
	var firstErr error
	for _, seg := range old {
		payloads, torn, size, err := readSegment(seg.path)
		if err != nil {
			firstErr = cmpErr(firstErr, err)
			continue
		}
		seg.size = size
		r.Segments++
		r.TornBytes += torn
		refused := false
		for _, p := range payloads {
			t, err := fn(p)
			if err != nil {
				refused = true
				break
			}
			seg.maxTicket = max(seg.maxTicket, t)
			seg.records++
			r.Records++
		}
		switch {
		case refused:
			if err := os.Rename(seg.path, seg.path+badSuffix); err != nil {
				firstErr = cmpErr(firstErr, fmt.Errorf("journal: set aside %s: %w", seg.path, err))
				continue
			}
			r.SetAside = append(r.SetAside, seg.path+badSuffix)
		case seg.records == 0:
			if err := os.Remove(seg.path); err != nil {
				firstErr = cmpErr(firstErr, fmt.Errorf("journal: %w", err))
			}
		default:
			j.mu.Lock()
			j.sealed = append(j.sealed, seg)
			j.mu.Unlock()
		}
	}
	return r, firstErr
}

// readSegment returns a segment's whole records, how many bytes follow
// the last of them, and its size.
func readSegment(path string) (payloads [][]byte, torn, size int64, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("journal: %w", err)
	}
	off := 0
	for len(data)-off >= headerSize {
		n := binary.LittleEndian.Uint32(data[off:])
		sum := binary.LittleEndian.Uint32(data[off+4:])
		if n > MaxRecord || int(n) > len(data)-off-headerSize {
			break
		}
		p := data[off+headerSize : off+headerSize+int(n)]
		if crc32.Checksum(p, castagnoli) != sum {
			break
		}
		payloads = append(payloads, p)
		off += headerSize + int(n)
	}
	return payloads, int64(len(data) - off), int64(len(data)), nil
}

// Append writes a record and returns once it is on disk: once an
// fdatasync that began after the write returned.
func (j *Journal) Append(ticket uint64, payload []byte) error {
	if len(payload) > MaxRecord {
		return fmt.Errorf("journal: record of %d bytes exceeds %d", len(payload), MaxRecord)
	}
	rec := make([]byte, headerSize+len(payload))
	binary.LittleEndian.PutUint32(rec, uint32(len(payload)))
	binary.LittleEndian.PutUint32(rec[4:], crc32.Checksum(payload, castagnoli))
	copy(rec[headerSize:], payload)

	j.mu.Lock()
	switch {
	case j.closed:
		j.mu.Unlock()
		return ErrClosed
	case j.broken != nil:
		err := j.broken
		j.mu.Unlock()
		return err
	}
	if _, err := j.active.Write(rec); err != nil {
		// Cut the partial record off, or later records would be
		// unreadable behind it.
		if terr := j.active.Truncate(j.current.size); terr != nil {
			j.broken = fmt.Errorf("%w: write %s: %v; cutting it back: %v", ErrBroken, j.current.path, err, terr)
		}
		j.mu.Unlock()
		return fmt.Errorf("journal: write %s: %w", j.current.path, err)
	}
	if j.current.records == 0 {
		j.current.firstAt = time.Now()
	}
	j.current.size += int64(len(rec))
	j.current.records++
	j.current.maxTicket = max(j.current.maxTicket, ticket)
	j.written++
	j.stats.Appended++
	mine := j.written
	j.mu.Unlock()
	return j.syncThrough(mine)
}

// syncThrough returns once append number n is on disk. Whoever holds
// syncMu syncs everything written so far, so the appends that queued
// behind one sync share the next.
func (j *Journal) syncThrough(n uint64) error {
	j.syncMu.Lock()
	defer j.syncMu.Unlock()
	if j.synced >= n {
		return nil
	}
	j.mu.Lock()
	if j.broken != nil {
		err := j.broken
		j.mu.Unlock()
		return err
	}
	target, f, path := j.written, j.active, j.current.path
	j.mu.Unlock()
	if err := unix.Fdatasync(int(f.Fd())); err != nil {
		// After a failed sync the kernel may have dropped the pages:
		// nothing written since the last good sync can be promised.
		j.mu.Lock()
		j.broken = fmt.Errorf("%w: sync %s: %v", ErrBroken, path, err)
		err := j.broken
		j.mu.Unlock()
		return err
	}
	j.synced = target
	j.mu.Lock()
	defer j.mu.Unlock()
	j.stats.Syncs++
	if j.current.size >= j.opts.SegmentBytes && !j.closed {
		return j.sealLocked()
	}
	return nil
}

// sealLocked closes the active segment and starts the next; both locks
// must be held.
func (j *Journal) sealLocked() error {
	if err := unix.Fdatasync(int(j.active.Fd())); err != nil {
		j.broken = fmt.Errorf("%w: sync %s: %v", ErrBroken, j.current.path, err)
		return j.broken
	}
	j.synced = j.written
	if err := j.active.Close(); err != nil {
		j.broken = fmt.Errorf("%w: close %s: %v", ErrBroken, j.current.path, err)
		return j.broken
	}
	j.sealed = append(j.sealed, j.current)
	if err := j.startSegmentLocked(); err != nil {
		j.broken = fmt.Errorf("%w: %v", ErrBroken, err)
		return j.broken
	}
	return nil
}

// Release drops what holds only records with tickets up to upTo: sealed
// segments are removed and an active segment is emptied. A record
// written after its ticket was released stays until the next Release;
// replaying it is harmless to a caller whose writes are idempotent.
func (j *Journal) Release(upTo uint64) error {
	j.syncMu.Lock()
	defer j.syncMu.Unlock()
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return ErrClosed
	}
	keep := j.sealed[:0]
	var firstErr error
	removed := false
	for _, seg := range j.sealed {
		if seg.maxTicket > upTo {
			keep = append(keep, seg)
			continue
		}
		if err := os.Remove(seg.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			firstErr = cmpErr(firstErr, fmt.Errorf("journal: %w", err))
			keep = append(keep, seg)
			continue
		}
		removed = true
		j.stats.Released++
	}
	clear(j.sealed[len(keep):])
	j.sealed = keep
	if removed {
		// Not needed for safety (a segment that reappears after a power
		// cut replays stored records), but it keeps replays short.
		firstErr = cmpErr(firstErr, durable.SyncDir(j.dir))
	}
	switch {
	case j.current.records > 0 && j.current.maxTicket <= upTo:
		// Everything in it is stored elsewhere (even when the journal
		// is broken: then nothing new is in it). The next append's sync
		// makes the new size durable along with the record.
		if err := j.active.Truncate(0); err != nil {
			j.broken = cmpErr(j.broken, fmt.Errorf("%w: truncate %s: %v", ErrBroken, j.current.path, err))
			return j.broken
		}
		j.current.size, j.current.records, j.current.maxTicket = 0, 0, 0
		j.synced = j.written
		j.stats.Released++
	case j.broken == nil && j.current.records > 0 && time.Since(j.current.firstAt) > j.opts.SegmentAge:
		// Never empty at a Release (shares keep coming): seal it, so
		// that it goes as soon as what it holds is stored.
		if err := j.sealLocked(); err != nil {
			return err
		}
	}
	return firstErr
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// Stats returns the counters now.
func (j *Journal) Stats() Stats {
	j.mu.Lock()
	defer j.mu.Unlock()
	s := j.stats
	s.Segments = 1 + len(j.sealed) + len(j.old)
	s.Bytes = j.current.size
	for _, seg := range j.sealed {
		s.Bytes += seg.size
	}
	return s
}

// Err is why the journal refuses appends, or nil.
func (j *Journal) Err() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.broken
}

// Dir is where the journal lives.
func (j *Journal) Dir() string { return j.dir }

// Close syncs and closes the active segment and gives up the lock. The
// files stay for the next Open.
func (j *Journal) Close() error {
	j.syncMu.Lock()
	defer j.syncMu.Unlock()
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return nil
	}
	j.closed = true
	err := unix.Fdatasync(int(j.active.Fd()))
	if cerr := j.active.Close(); err == nil {
		err = cerr
	}
	if j.current.records == 0 && err == nil {
		// Nothing to replay: leave no empty file behind.
		err = os.Remove(j.current.path)
	}
	if cerr := j.lock.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("journal %s: close: %w", j.dir, err)
	}
	return nil
}

var _ io.Closer = (*Journal)(nil)
