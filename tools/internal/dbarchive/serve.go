package dbarchive

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/scryptpool/poolmicrocloud/tools/internal/basicauth"
)

// The archive lives on the backup node, and the member that restores it
// on another node with no shared filesystem: the archive is served over
// HTTP, read-only, to whoever knows the replication login, and fetched
// (Fetch) into a local copy that Restore reads.

// indexPath is the one listing the server gives: everything else is a
// file named in it.
const indexPath = "/index.json"

// index is what the archive holds, as served.
type index struct {
	Backups []indexedBackup `json:"backups"`
	WAL     []indexedFile   `json:"wal"`
}

// indexedBackup is a finished base backup (what ListBackups returns) and
// its files.
type indexedBackup struct {
	Backup
	Files []indexedFile `json:"files"`
}

type indexedFile struct {
	Name    string    `json:"name"`
	Size    int64     `json:"size"`
	ModTime time.Time `json:"mod_time"`
}

// backupFiles are the only files of a base backup that are served.
var backupFiles = []string{baseTar, manifestFile, metaFile}

func isBackupFile(name string) bool {
	for _, f := range backupFiles {
		if name == f {
			return true
		}
	}
	return false
}

// validBackupID accepts what a base backup's directory may be called
// (idLayout's digits and letters): one plain path element, never a
// temporary one.
func validBackupID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r >= '0' && r <= '9' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// Handler serves the archive in dir read-only to user with password
// (HTTP basic authentication, on every request): GET /index.json lists
// the finished base backups and the WAL files, GET /base/<id>/<file> one
// of a listed base backup's files, GET /wal/<name> a WAL segment, partial
// segment or history file. Nothing else is served: no directory
// listings, no base backup being taken, no name the archive does not
// use.
func Handler(dir, user, password string) http.Handler {
	return &server{dir: dir, user: user, password: password}
}

type server struct {
	dir, user, password string
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !basicauth.Valid(r, s.user, s.password) {
		w.Header().Set("WWW-Authenticate", `Basic realm="poolctl archive", charset="UTF-8"`)
		http.Error(w, "the archive needs the replication login (basic authentication)", http.StatusUnauthorized)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "the archive is read-only: GET or HEAD only", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	if r.URL.Path == indexPath {
		s.serveIndex(w)
		return
	}
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
	switch {
	case len(parts) == 2 && parts[0] == walSubdir:
		f, ok := parseWALName(parts[1])
		if !ok {
			http.NotFound(w, r)
			return
		}
		s.serveFile(w, r, walPath(WALDir(s.dir), f))
	case len(parts) == 3 && parts[0] == baseSubdir:
		id, name := parts[1], parts[2]
		if !validBackupID(id) || !isBackupFile(name) {
			http.NotFound(w, r)
			return
		}
		if _, ok, err := s.backup(id); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		} else if !ok {
			http.NotFound(w, r)
			return
		}
		s.serveFile(w, r, filepath.Join(baseDir(s.dir), id, name))
	default:
		http.NotFound(w, r)
	}
}

// backup finds a finished base backup by its ID.
func (s *server) backup(id string) (Backup, bool, error) {
	backups, err := ListBackups(s.dir)
	if err != nil {
		return Backup{}, false, err
	}
	for _, b := range backups {
		if b.ID == id && validBackupID(b.ID) {
			return b, true, nil
		}
	}
	return Backup{}, false, nil
}

func (s *server) serveIndex(w http.ResponseWriter) {
	ix, err := readIndex(s.dir)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(ix)
}

// readIndex lists what the archive in dir serves.
func readIndex(dir string) (index, error) {
	ix := index{Backups: []indexedBackup{}, WAL: []indexedFile{}}
	backups, err := ListBackups(dir)
	if err != nil {
		return ix, err
	}
	for _, b := range backups {
		if !validBackupID(b.ID) {
			continue
		}
		ib := indexedBackup{Backup: b, Files: []indexedFile{}}
		for _, name := range backupFiles {
			info, err := os.Lstat(filepath.Join(baseDir(dir), b.ID, name))
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return ix, fmt.Errorf("base backup %s: %w", b.ID, err)
			}
			if info.Mode().IsRegular() {
				ib.Files = append(ib.Files, indexedFile{Name: name, Size: info.Size(), ModTime: info.ModTime().UTC()})
			}
		}
		ix.Backups = append(ix.Backups, ib)
	}
	wal, err := listWAL(WALDir(dir))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return ix, err
	}
	for _, f := range wal {
		ix.WAL = append(ix.WAL, indexedFile{Name: f.Name, Size: f.Size, ModTime: f.ModTime.UTC()})
	}
	return ix, nil
}

// serveFile serves one regular file of the archive (never a link or a
// directory); path is built from names already checked.
func (s *server) serveFile(w http.ResponseWriter, r *http.Request, path string) {
	info, err := os.Lstat(path)
	if err != nil || !info.Mode().IsRegular() {
		http.NotFound(w, r)
		return
	}
	f, err := os.Open(path)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	// No sniffing of WAL for a content type.
	w.Header().Set("Content-Type", "application/octet-stream")
	http.ServeContent(w, r, filepath.Base(path), info.ModTime(), f)
}
