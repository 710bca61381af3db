package dbarchive

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	testUser     = "replicator"
	testPassword = "s3cret"
)

// servedArchive is an archive with two base backups, WAL on two
// timelines with content (each file holds its own name), a base backup
// being taken, and files the archive does not serve.
func servedArchive(t *testing.T) string {
	t.Helper()
	a, b := bk("a", 10, 2, 2), bk("b", 34, 5, 6)
	wal := append(segments(1, 2, 7, true), append(segments(2, 7, 8, true), "00000002.history")...)
	dir := writeArchive(t, []Backup{a, b}, wal)
	for _, n := range wal {
		require.NoError(t, os.WriteFile(filepath.Join(WALDir(dir), n), []byte("wal "+n), 0o600))
	}
	for _, x := range []Backup{a, b} {
		writeTar(t, filepath.Join(baseDir(dir), x.ID, baseTar), [][2]string{{"PG_VERSION", "15\n"}, {"backup of " + x.ID, ""}})
		require.NoError(t, os.WriteFile(filepath.Join(baseDir(dir), x.ID, manifestFile), []byte(`{"backup": "`+x.ID+`"}`), 0o600))
	}
	require.NoError(t, os.WriteFile(filepath.Join(baseDir(dir), "a", "notes.txt"), []byte("not served"), 0o600))
	tmp := filepath.Join(baseDir(dir), tmpPrefix+"20260301T120000Z")
	require.NoError(t, os.MkdirAll(tmp, 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(tmp, baseTar), []byte("unfinished"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(WALDir(dir), "notes.txt"), []byte("not served"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(WALDir(dir), ".000000010000000000000009.partial"), []byte("pg_receivewal's"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "secret"), []byte("outside"), 0o600))
	return dir
}

func TestHandler(t *testing.T) {
	dir := servedArchive(t)
	h := Handler(dir, testUser, testPassword)
	seg := SegmentName(1, 3)
	for _, tc := range []struct {
		name           string
		method, target string
		user, password string // "" user: no authentication
		rangeHeader    string
		code           int
		body           string // the body, or "" for any
	}{
		{"no authentication", "GET", "/index.json", "", "", "", http.StatusUnauthorized, ""},
		{"a wrong password", "GET", "/index.json", testUser, "s3cret ", "", http.StatusUnauthorized, ""},
		{"a wrong user", "GET", "/index.json", "postgres", testPassword, "", http.StatusUnauthorized, ""},
		{"no authentication for a file", "GET", "/wal/" + seg, "", "", "", http.StatusUnauthorized, ""},
		{"no authentication for a write", "PUT", "/wal/" + seg, "", "", "", http.StatusUnauthorized, ""},
		{"the index", "GET", "/index.json", testUser, testPassword, "", http.StatusOK, ""},
		{"a segment", "GET", "/wal/" + seg, testUser, testPassword, "", http.StatusOK, "wal " + seg},
		{"part of a segment", "GET", "/wal/" + seg, testUser, testPassword, "bytes=4-", http.StatusPartialContent, seg},
		{"a partial segment", "GET", "/wal/000000020000000000000008.partial", testUser, testPassword, "", http.StatusOK, "wal 000000020000000000000008.partial"},
		{"a history file", "GET", "/wal/00000002.history", testUser, testPassword, "", http.StatusOK, "wal 00000002.history"},
		{"HEAD of a segment", "HEAD", "/wal/" + seg, testUser, testPassword, "", http.StatusOK, ""},
		{"a base backup's tar", "GET", "/base/a/base.tar.gz", testUser, testPassword, "", http.StatusOK, ""},
		{"a base backup's manifest", "GET", "/base/b/backup_manifest", testUser, testPassword, "", http.StatusOK, `{"backup": "b"}`},
		{"a base backup's metadata", "GET", "/base/b/backup.json", testUser, testPassword, "", http.StatusOK, ""},
		{"a segment the archive lacks", "GET", "/wal/" + SegmentName(1, 1), testUser, testPassword, "", http.StatusNotFound, ""},
		{"a file that is no WAL", "GET", "/wal/notes.txt", testUser, testPassword, "", http.StatusNotFound, ""},
		{"pg_receivewal's temporary file", "GET", "/wal/.000000010000000000000009.partial", testUser, testPassword, "", http.StatusNotFound, ""},
		{"up out of wal", "GET", "/wal/../secret", testUser, testPassword, "", http.StatusNotFound, ""},
		{"from wal into base", "GET", "/wal/../base/a/backup.json", testUser, testPassword, "", http.StatusNotFound, ""},
		{"an escaped slash", "GET", "/wal/..%2Fsecret", testUser, testPassword, "", http.StatusNotFound, ""},
		{"a dot segment in base", "GET", "/base/../secret", testUser, testPassword, "", http.StatusNotFound, ""},
		{"a base backup's parent", "GET", "/base/../wal/" + seg, testUser, testPassword, "", http.StatusNotFound, ""},
		{"a base backup being taken", "GET", "/base/.tmp-20260301T120000Z/base.tar.gz", testUser, testPassword, "", http.StatusNotFound, ""},
		{"a base backup that does not exist", "GET", "/base/c/base.tar.gz", testUser, testPassword, "", http.StatusNotFound, ""},
		{"another file of a base backup", "GET", "/base/a/notes.txt", testUser, testPassword, "", http.StatusNotFound, ""},
		{"a base backup's directory", "GET", "/base/a/", testUser, testPassword, "", http.StatusNotFound, ""},
		{"the WAL directory", "GET", "/wal/", testUser, testPassword, "", http.StatusNotFound, ""},
		{"the base directory", "GET", "/base", testUser, testPassword, "", http.StatusNotFound, ""},
		{"the root", "GET", "/", testUser, testPassword, "", http.StatusNotFound, ""},
		{"a file at the root", "GET", "/secret", testUser, testPassword, "", http.StatusNotFound, ""},
		{"a doubled slash", "GET", "/wal//" + seg, testUser, testPassword, "", http.StatusNotFound, ""},
		{"a write", "PUT", "/wal/" + seg, testUser, testPassword, "", http.StatusMethodNotAllowed, ""},
		{"a removal", "DELETE", "/base/a/base.tar.gz", testUser, testPassword, "", http.StatusMethodNotAllowed, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, "http://archive"+tc.target, nil)
			if strings.Contains(tc.target, "..") {
				require.Contains(t, r.URL.Path, "/../", "the handler sees the path as sent, not cleaned")
			}
			if tc.user != "" {
				r.SetBasicAuth(tc.user, tc.password)
			}
			if tc.rangeHeader != "" {
				r.Header.Set("Range", tc.rangeHeader)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			assert.Equal(t, tc.code, w.Code, "%s %s: %s", tc.method, tc.target, w.Body.String())
			if tc.code == http.StatusUnauthorized {
				assert.Equal(t, `Basic realm="poolctl archive", charset="UTF-8"`, w.Header().Get("WWW-Authenticate"))
			}
			if tc.body != "" {
				assert.Equal(t, tc.body, w.Body.String())
			}
			assert.NotContains(t, w.Body.String(), "outside")
			assert.NotContains(t, w.Body.String(), "unfinished")
			assert.NotContains(t, w.Body.String(), "not served")
			assert.NotContains(t, w.Body.String(), testPassword)
		})
	}
	// The archive is only read.
	b, err := os.ReadFile(filepath.Join(WALDir(dir), seg))
	require.NoError(t, err)
	assert.Equal(t, "wal "+seg, string(b))
}

func TestHandlerIndex(t *testing.T) {
	dir := servedArchive(t)
	r := httptest.NewRequest("GET", "http://archive/index.json", nil)
	r.SetBasicAuth(testUser, testPassword)
	w := httptest.NewRecorder()
	Handler(dir, testUser, testPassword).ServeHTTP(w, r)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	assert.Equal(t, "application/json", w.Header().Get("Content-Type"))

	var ix index
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &ix))
	want, err := ListBackups(dir)
	require.NoError(t, err)
	require.Len(t, ix.Backups, len(want), "the finished base backups, not the one being taken")
	for i, b := range ix.Backups {
		assert.Equal(t, want[i].ID, b.ID)
		assert.True(t, want[i].Finished.Equal(b.Finished))
		assert.Equal(t, want[i].StartLSN, b.StartLSN)
		var names []string
		for _, f := range b.Files {
			names = append(names, f.Name)
			info, err := os.Stat(filepath.Join(baseDir(dir), b.ID, f.Name))
			require.NoError(t, err)
			assert.Equal(t, info.Size(), f.Size, f.Name)
		}
		assert.Equal(t, []string{baseTar, manifestFile, metaFile}, names)
	}
	wal, err := listWAL(WALDir(dir))
	require.NoError(t, err)
	require.Len(t, ix.WAL, len(wal))
	for i, f := range ix.WAL {
		assert.Equal(t, wal[i].Name, f.Name)
		assert.Equal(t, int64(len("wal "+f.Name)), f.Size)
		assert.True(t, wal[i].ModTime.Equal(f.ModTime))
	}
	assert.NotContains(t, w.Body.String(), "notes.txt")
	assert.NotContains(t, w.Body.String(), tmpPrefix)
	assert.False(t, strings.Contains(w.Body.String(), ".000000010000000000000009"), "pg_receivewal's temporary file")
}
