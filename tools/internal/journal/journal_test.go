package journal

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func open(t *testing.T, dir string, opts Options) *Journal {
	t.Helper()
	j, err := Open(dir, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = j.Close() })
	return j
}

// replayAll reopens dir and returns the payloads an earlier process left,
// numbering them 1, 2, ... as tickets.
func replayAll(t *testing.T, dir string) ([]string, Replayed, *Journal) {
	t.Helper()
	j := open(t, dir, Options{})
	var got []string
	r, err := j.Replay(func(p []byte) (uint64, error) {
		got = append(got, string(p))
		return uint64(len(got)), nil
	})
	require.NoError(t, err)
	return got, r, j
}

func TestAppendedRecordsAreReplayedInOrder(t *testing.T) {
	dir := t.TempDir()
	j := open(t, dir, Options{})
	for i := 1; i <= 5; i++ {
		require.NoError(t, j.Append(uint64(i), []byte(fmt.Sprintf("share %d", i))))
	}
	require.NoError(t, j.Close())

	got, r, _ := replayAll(t, dir)
	assert.Equal(t, []string{"share 1", "share 2", "share 3", "share 4", "share 5"}, got)
	assert.Equal(t, Replayed{Segments: 1, Records: 5}, r)
}

func TestReleaseDropsWhatIsStoredElsewhere(t *testing.T) {
	cases := []struct {
		name    string
		records int
		release uint64
		want    []string
	}{
		{"nothing released", 6, 0, []string{"1", "2", "3", "4", "5", "6"}},
		// Segments of 2 records: 1-2, 3-4 and 5-6 are sealed.
		{"the first sealed segment", 6, 2, []string{"3", "4", "5", "6"}},
		{"a segment half released stays whole", 6, 3, []string{"3", "4", "5", "6"}},
		{"two sealed segments", 6, 4, []string{"5", "6"}},
		{"all", 6, 6, nil},
		// 5 is alone in the active segment.
		{"the active segment emptied", 5, 5, nil},
		{"the active segment kept", 5, 4, []string{"5"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			record := len(fmt.Sprint(1)) + headerSize
			j := open(t, dir, Options{SegmentBytes: int64(2 * record)})
			for i := 1; i <= tc.records; i++ {
				require.NoError(t, j.Append(uint64(i), []byte(strconv.Itoa(i))))
			}
			require.NoError(t, j.Release(tc.release))
			require.NoError(t, j.Close())
			got, _, _ := replayAll(t, dir)
			assert.Equal(t, tc.want, got)
		})
	}
}

// TestAnOldActiveSegmentIsSealed: a segment never empty at a Release
// (shares keep coming) is sealed once it is older than SegmentAge, so
// that what it holds leaves once stored, instead of waiting to be
// replayed after the database pruned it.
func TestAnOldActiveSegmentIsSealed(t *testing.T) {
	for _, tc := range []struct {
		name string
		age  time.Duration
		want []string
	}{
		{"sealed when old", time.Nanosecond, []string{"3"}},
		{"kept while young", time.Hour, []string{"1", "2", "3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			j := open(t, dir, Options{SegmentAge: tc.age})
			require.NoError(t, j.Append(1, []byte("1")))
			require.NoError(t, j.Append(2, []byte("2")))
			require.NoError(t, j.Release(1)) // 2 is not stored yet
			require.NoError(t, j.Append(3, []byte("3")))
			require.NoError(t, j.Release(2))
			require.NoError(t, j.Close())
			got, _, _ := replayAll(t, dir)
			assert.Equal(t, tc.want, got)
		})
	}
}

// TestARefusedRecordSetsItsSegmentAside: a record the caller cannot take
// back (another version's, say) must not stop every later start.
func TestARefusedRecordSetsItsSegmentAside(t *testing.T) {
	dir := t.TempDir()
	j := open(t, dir, Options{SegmentBytes: 1})
	for i, p := range []string{"good", "bad", "after"} {
		require.NoError(t, j.Append(uint64(i+1), []byte(p)))
	}
	require.NoError(t, j.Close())

	j2 := open(t, dir, Options{})
	var got []string
	r, err := j2.Replay(func(p []byte) (uint64, error) {
		if string(p) == "bad" {
			return 0, fmt.Errorf("not a record of this version")
		}
		got = append(got, string(p))
		return uint64(len(got)), nil
	})
	require.NoError(t, err)
	assert.Equal(t, []string{"good", "after"}, got)
	require.Len(t, r.SetAside, 1)
	assert.FileExists(t, r.SetAside[0])
	require.NoError(t, j2.Close())
	got, _, _ = replayAll(t, dir)
	assert.Equal(t, []string{"good", "after"}, got, "the set-aside segment is not replayed again")
}

func TestReplayedSegmentsWaitForTheirNewTickets(t *testing.T) {
	dir := t.TempDir()
	j := open(t, dir, Options{})
	require.NoError(t, j.Append(1, []byte("old a")))
	require.NoError(t, j.Append(2, []byte("old b")))
	require.NoError(t, j.Close())

	// The next process numbers them 1 and 2 and appends 3.
	_, _, j2 := replayAll(t, dir)
	require.NoError(t, j2.Append(3, []byte("new")))
	require.NoError(t, j2.Release(1)) // only one of the old two is stored
	require.NoError(t, j2.Close())
	got, _, j3 := replayAll(t, dir)
	assert.Equal(t, []string{"old a", "old b", "new"}, got)

	require.NoError(t, j3.Release(3))
	require.NoError(t, j3.Close())
	got, _, _ = replayAll(t, dir)
	assert.Empty(t, got)
}

func TestATornOrCorruptTailEndsTheSegment(t *testing.T) {
	cases := []struct {
		name string
		harm func(t *testing.T, path string, size int64)
		torn int64
		kept int // whole records before the harm
	}{
		{"half a header", func(t *testing.T, path string, _ int64) { appendBytes(t, path, []byte{9, 0, 0}) }, 3, 3},
		{"a header without its payload", func(t *testing.T, path string, _ int64) {
			appendBytes(t, path, []byte{9, 0, 0, 0, 1, 2, 3, 4, 'x'})
		}, 9, 3},
		{"a length past the limit", func(t *testing.T, path string, _ int64) {
			appendBytes(t, path, []byte{0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0})
		}, 8, 3},
		{"a flipped bit in the last payload", func(t *testing.T, path string, size int64) {
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			require.NoError(t, err)
			defer f.Close()
			b := make([]byte, 1)
			_, err = f.ReadAt(b, size-1)
			require.NoError(t, err)
			b[0] ^= 1
			_, err = f.WriteAt(b, size-1)
			require.NoError(t, err)
		}, int64(headerSize + len("three")), 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			j := open(t, dir, Options{})
			for i, p := range []string{"one", "two", "three"} {
				require.NoError(t, j.Append(uint64(i+1), []byte(p)))
			}
			path := j.current.path
			size := j.current.size
			require.NoError(t, j.Close())
			tc.harm(t, path, size)

			got, r, _ := replayAll(t, dir)
			assert.Equal(t, []string{"one", "two", "three"}[:tc.kept], got)
			assert.Equal(t, tc.torn, r.TornBytes)
		})
	}
}

func appendBytes(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.Write(b)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

func TestOneProcessAtATime(t *testing.T) {
	dir := t.TempDir()
	open(t, dir, Options{})
	_, err := Open(dir, Options{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "in use by another process")
}

func TestConcurrentAppendsAreAllKept(t *testing.T) {
	dir := t.TempDir()
	j := open(t, dir, Options{SegmentBytes: 4096})
	const writers, each = 16, 200
	var wg sync.WaitGroup
	var mu sync.Mutex
	ticket := uint64(0)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				mu.Lock()
				ticket++
				tk := ticket
				mu.Unlock()
				assert.NoError(t, j.Append(tk, []byte(fmt.Sprintf("w%d-%d", w, i))))
			}
		}()
	}
	wg.Wait()
	s := j.Stats()
	assert.Equal(t, uint64(writers*each), s.Appended)
	assert.LessOrEqual(t, s.Syncs, s.Appended)
	assert.Greater(t, s.Segments, 1, "4 KiB segments must have rotated")
	require.NoError(t, j.Close())

	got, _, _ := replayAll(t, dir)
	seen := map[string]bool{}
	for _, p := range got {
		assert.False(t, seen[p], "replayed twice: %s", p)
		seen[p] = true
	}
	assert.Len(t, seen, writers*each)
}

func TestRecordTooLargeIsRefused(t *testing.T) {
	j := open(t, t.TempDir(), Options{})
	require.Error(t, j.Append(1, make([]byte, MaxRecord+1)))
	require.NoError(t, j.Append(2, []byte("fine")))
}

// TestAcknowledgedRecordsSurviveSIGKILL kills a process that appends as
// fast as it can: every record it said was appended is replayed.
func TestAcknowledgedRecordsSurviveSIGKILL(t *testing.T) {
	if dir := os.Getenv("JOURNAL_TEST_CHILD_DIR"); dir != "" {
		appendForever(dir)
		return
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestAcknowledgedRecordsSurviveSIGKILL$")
	cmd.Env = append(os.Environ(), "JOURNAL_TEST_CHILD_DIR="+dir)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	acked := map[string]bool{}
	sc := bufio.NewScanner(out)
	for sc.Scan() && len(acked) < 2000 {
		acked[sc.Text()] = true
	}
	require.Len(t, acked, 2000, "the child stopped acknowledging")
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()

	got, _, _ := replayAll(t, dir)
	replayed := map[string]bool{}
	for _, p := range got {
		replayed[p] = true
	}
	for p := range acked {
		assert.True(t, replayed[p], "acknowledged %s but not replayed", p)
	}
	assert.GreaterOrEqual(t, len(replayed), len(acked))
}

// appendForever is the child: 8 appenders, each printing a record only
// after Append returned.
func appendForever(dir string) {
	j, err := Open(filepath.Clean(dir), Options{SegmentBytes: 64 << 10})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var mu sync.Mutex
	ticket := uint64(0)
	w := bufio.NewWriter(os.Stdout)
	for g := range 8 {
		go func() {
			for i := 0; ; i++ {
				p := fmt.Sprintf("g%d-%d", g, i)
				mu.Lock()
				ticket++
				tk := ticket
				mu.Unlock()
				if err := j.Append(tk, []byte(p)); err != nil {
					os.Exit(1)
				}
				mu.Lock()
				fmt.Fprintln(w, p)
				_ = w.Flush()
				mu.Unlock()
			}
		}()
	}
	select {}
}
