package dbarchive

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func fetchNow() time.Time { return at(40) }

// fetchOptions fetch from url for a restore to hour target into dir.
func fetchOptions(url, dir string, target float64) FetchOptions {
	return FetchOptions{URL: url, User: testUser, Password: testPassword, Target: at(target), Dir: dir, Now: fetchNow}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out
}

func TestFetchRoundTrip(t *testing.T) {
	dir := servedArchive(t)
	srv := httptest.NewServer(Handler(dir, testUser, testPassword))
	defer srv.Close()
	copyDir := filepath.Join(t.TempDir(), "data.archive-copy")
	var log bytes.Buffer
	o := fetchOptions(srv.URL, copyDir, 35)
	o.Log = &log

	b, err := Fetch(context.Background(), o)
	require.NoError(t, err)
	assert.Equal(t, "b", b.ID, "the base backup Restore chooses")
	assert.Equal(t, []string{copyMarker, baseSubdir, walSubdir}, dirNames(t, copyDir))
	assert.Equal(t, []string{"b"}, dirNames(t, baseDir(copyDir)), "only the chosen base backup, nothing temporary")
	for _, name := range []string{baseTar, manifestFile, metaFile} {
		want, err := os.ReadFile(filepath.Join(baseDir(dir), "b", name))
		require.NoError(t, err)
		got, err := os.ReadFile(filepath.Join(baseDir(copyDir), "b", name))
		require.NoError(t, err)
		assert.Equal(t, want, got, name)
	}
	// From b's start segment (5) on, on both timelines, partial ones
	// and the history file; nothing older, nothing temporary.
	want := append([]string{"00000002.history"}, segments(1, 5, 7, true)...)
	want = append(want, segments(2, 7, 8, true)...)
	sort.Strings(want)
	assert.Equal(t, want, dirNames(t, WALDir(copyDir)))
	orig, err := listWAL(WALDir(dir))
	require.NoError(t, err)
	copied, err := listWAL(WALDir(copyDir))
	require.NoError(t, err)
	byName := map[string]WALFile{}
	for _, f := range orig {
		byName[f.Name] = f
	}
	for _, f := range copied {
		content, err := os.ReadFile(filepath.Join(WALDir(copyDir), f.Name))
		require.NoError(t, err)
		assert.Equal(t, "wal "+f.Name, string(content))
		assert.True(t, byName[f.Name].ModTime.Equal(f.ModTime), "%s keeps the time the archive wrote it", f.Name)
	}
	assert.Contains(t, log.String(), "archive fetch: base backup b ")
	assert.Contains(t, log.String(), "archive fetch: 6 WAL files")
	assert.NotContains(t, log.String(), testPassword)

	// Restore reads the copy as it reads the archive.
	for _, from := range []string{dir, copyDir} {
		data := filepath.Join(t.TempDir(), "data")
		r, err := Restore(context.Background(), RestoreOptions{Dir: from, DataDir: data, Target: at(35), Now: fetchNow})
		require.NoError(t, err, from)
		assert.Equal(t, "b", r.Backup.ID)
		assert.FileExists(t, filepath.Join(data, "recovery.signal"))
		assert.FileExists(t, filepath.Join(data, "backup of b"))
		auto, err := os.ReadFile(filepath.Join(data, "postgresql.auto.conf"))
		require.NoError(t, err)
		assert.Contains(t, string(auto), confQuote(RestoreCommand(from)))
	}

	// A second fetch replaces the copy it made, here with an older one.
	b, err = Fetch(context.Background(), fetchOptions(srv.URL, copyDir, 12))
	require.NoError(t, err)
	assert.Equal(t, "a", b.ID)
	assert.Equal(t, []string{"a"}, dirNames(t, baseDir(copyDir)))
	assert.Contains(t, dirNames(t, WALDir(copyDir)), SegmentName(1, 2))
}

// rewriteIndex serves the archive with its index changed by edit.
func rewriteIndex(t *testing.T, h http.Handler, edit func(*index)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != indexPath {
			h.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		var ix index
		if err := json.Unmarshal(rec.Body.Bytes(), &ix); err != nil {
			t.Errorf("index: %v", err)
		}
		edit(&ix)
		_ = json.NewEncoder(w).Encode(ix)
	})
}

func TestFetchFailures(t *testing.T) {
	dir := servedArchive(t)
	h := Handler(dir, testUser, testPassword)
	seg := SegmentName(1, 6)
	closed := httptest.NewServer(h)
	closed.Close()
	for _, tc := range []struct {
		name    string
		handler http.Handler // nil: the archive as served
		url     string       // instead of the server's
		change  func(o *FetchOptions)
		err     []string // with %s the server's URL
		refused bool
	}{
		{name: "a wrong password", change: func(o *FetchOptions) { o.Password = "guess" },
			err: []string{`%s/index.json: the archive server refused login "replicator": wrong password (401)`}},
		{name: "an unreachable server", url: closed.URL,
			err: []string{"cannot reach the archive server at " + closed.URL + "/index.json: dial tcp", "connection refused"}},
		{name: "not a URL", url: "10.0.0.5:23456", refused: true,
			err: []string{`archive server "10.0.0.5:23456" is not a URL such as http://10.0.0.5:23456`}},
		{name: "a login in the URL", url: "http://replicator:" + testPassword + "@10.0.0.5:23456", refused: true,
			err: []string{"archive server http://replicator:xxxxx@10.0.0.5:23456: give the login as user and password, not in the URL"}},
		{name: "a target in the future", change: func(o *FetchOptions) { o.Target = at(41) }, refused: true,
			err: []string{"restore target 2026-03-02 17:00:00Z is in the future (now 2026-03-02 16:00:00Z)"}},
		{name: "a target before the oldest restorable point", change: func(o *FetchOptions) { o.Target = at(9) }, refused: true,
			err: []string{"archive %s: 2026-03-01 09:00:00Z is before the oldest restorable point 2026-03-01 10:00:00Z (the end of base backup a)"}},
		{name: "a copy directory made by someone else", refused: true, change: func(o *FetchOptions) {
			require.NoError(t, os.MkdirAll(o.Dir, 0o700))
			require.NoError(t, os.WriteFile(filepath.Join(o.Dir, "PG_VERSION"), []byte("15\n"), 0o600))
		}, err: []string{"is not empty (it has PG_VERSION) and is no copy poolctl made (no .poolctl-archive-copy): give an empty or absent directory"}},
		{name: "a size other than the index's", handler: rewriteIndex(t, h, func(ix *index) {
			for i := range ix.WAL {
				if ix.WAL[i].Name == seg {
					ix.WAL[i].Size++
				}
			}
		}), err: []string{"%s/wal/" + seg + ": the server sends 28 bytes, its index listed 29: the archive changed, fetch again"}},
		{name: "a truncated download", handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/wal/"+seg {
				h.ServeHTTP(w, r)
				return
			}
			w.Header().Set("Content-Length", strconv.Itoa(len("wal "+seg)))
			_, _ = w.Write([]byte("wal"))
		}), err: []string{"fetch %s/wal/" + seg + " into ", "received 3 bytes of 28: unexpected EOF"}},
		{name: "a name the archive does not use", handler: rewriteIndex(t, h, func(ix *index) {
			ix.WAL = append(ix.WAL, indexedFile{Name: "../../etc/passwd"})
		}), err: []string{`%s/index.json lists "../../etc/passwd", which is not a WAL file's name`}},
		{name: "a base backup name the archive does not use", handler: rewriteIndex(t, h, func(ix *index) {
			ix.Backups[0].ID = ".."
		}), err: []string{`%s/index.json lists a base backup named "..", which is not a base backup's name`}},
		{name: "a file removed since the index", handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/base/b/base.tar.gz" {
				http.NotFound(w, r)
				return
			}
			h.ServeHTTP(w, r)
		}), err: []string{"%s/base/b/base.tar.gz: gone from the archive since its index was read (404)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			handler := tc.handler
			if handler == nil {
				handler = h
			}
			srv := httptest.NewServer(handler)
			defer srv.Close()
			url := srv.URL
			if tc.url != "" {
				url = tc.url
			}
			copyDir := filepath.Join(t.TempDir(), "copy")
			o := fetchOptions(url, copyDir, 35)
			if tc.change != nil {
				tc.change(&o)
			}
			_, err := Fetch(context.Background(), o)
			require.Error(t, err)
			for _, want := range tc.err {
				if strings.Contains(want, "%s") {
					want = strings.ReplaceAll(want, "%s", url)
				}
				assert.Contains(t, err.Error(), want)
			}
			assert.Equal(t, tc.refused, errors.Is(err, ErrRefused), "refused: %v", err)
			assert.NotContains(t, err.Error(), "\n", "one line")
			if tc.name != "a login in the URL" {
				assert.NotContains(t, err.Error(), testPassword)
			}
			// Nothing half written carries a name Restore reads.
			if entries, err := os.ReadDir(WALDir(copyDir)); err == nil {
				for _, e := range entries {
					assert.False(t, strings.HasPrefix(e.Name(), ".fetch-"), "temporary file %s left", e.Name())
					_, ok := parseWALName(e.Name())
					assert.True(t, ok, e.Name())
				}
			}
		})
	}
}

func TestFetchPartialCompletedMeanwhile(t *testing.T) {
	dir := servedArchive(t)
	h := Handler(dir, testUser, testPassword)
	partial := SegmentName(2, 8) + ".partial"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r)
		if r.URL.Path == indexPath {
			// pg_receivewal finishes the segment once the index is sent.
			full := "wal " + SegmentName(2, 8) + " complete"
			if err := os.WriteFile(filepath.Join(WALDir(dir), SegmentName(2, 8)), []byte(full), 0o600); err != nil {
				t.Error(err)
			}
			if err := os.Remove(filepath.Join(WALDir(dir), partial)); err != nil {
				t.Error(err)
			}
		}
	}))
	defer srv.Close()
	copyDir := filepath.Join(t.TempDir(), "copy")
	_, err := Fetch(context.Background(), fetchOptions(srv.URL, copyDir, 35))
	require.NoError(t, err)
	got, err := os.ReadFile(filepath.Join(WALDir(copyDir), SegmentName(2, 8)))
	require.NoError(t, err)
	assert.Equal(t, "wal "+SegmentName(2, 8)+" complete", string(got))
	assert.NoFileExists(t, filepath.Join(WALDir(copyDir), partial))
}

func TestFetchIntoEmptyDirectory(t *testing.T) {
	srv := httptest.NewServer(Handler(servedArchive(t), testUser, testPassword))
	defer srv.Close()
	copyDir := t.TempDir()
	_, err := Fetch(context.Background(), fetchOptions(srv.URL, copyDir, 35))
	require.NoError(t, err)
	assert.FileExists(t, filepath.Join(copyDir, copyMarker))
}
