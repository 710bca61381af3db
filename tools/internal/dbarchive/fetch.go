package dbarchive

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// copyMarker marks a directory Fetch made: only such a directory is
// removed when Fetch is run again into it.
const copyMarker = ".poolctl-archive-copy"

// FetchOptions say which archive server to copy from, what for, and
// where to.
type FetchOptions struct {
	// URL is the archive server (Handler), such as http://10.0.0.5:23456.
	URL string
	// User and Password are the replication login the server accepts.
	User, Password string
	// Target is the time the copy is to be restored to: it decides the
	// base backup fetched, as Restore chooses it.
	Target time.Time
	// Dir is the copy to create: absent, empty, or a copy Fetch made
	// before (which is replaced).
	Dir string
	// Client defaults to one without a timeout: ctx bounds the fetch.
	Client *http.Client
	Now    func() time.Time
	// Log gets one line per step.
	Log io.Writer
}

// Fetch copies from the archive server at o.URL what a restore to
// o.Target needs into o.Dir, laid out as the archive is: the base backup
// Restore would choose, the WAL from its start on (every timeline, the
// partial segments) and the timelines' history files. Restore then reads
// o.Dir as it reads the archive. Every file is checked against the size
// the server listed, flushed to disk, and only then given its name; a
// base backup appears once all its files are there.
func Fetch(ctx context.Context, o FetchOptions) (Backup, error) {
	f := fetcher{o: o, client: o.Client}
	if f.client == nil {
		f.client = &http.Client{}
	}
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	base, err := url.Parse(strings.TrimSuffix(o.URL, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return Backup{}, refuse("archive server %q is not a URL such as http://10.0.0.5:23456", o.URL)
	}
	if base.User != nil {
		// It would show in every message.
		return Backup{}, refuse("archive server %s: give the login as user and password, not in the URL", base.Redacted())
	}
	f.base = base
	if n := now(); o.Target.After(n) {
		return Backup{}, refuse("restore target %s is in the future (now %s)", formatTime(o.Target), formatTime(n))
	}
	if err := prepareCopyDir(o.Dir); err != nil {
		return Backup{}, err
	}
	start := now()
	var ix index
	if err := f.getJSON(ctx, indexPath, &ix); err != nil {
		return Backup{}, err
	}
	backups, wal, err := f.checkIndex(ix)
	if err != nil {
		return Backup{}, err
	}
	f.logf("%s: %d base backups, %d WAL files", f.url(indexPath), len(backups), len(wal))
	b, err := ChooseBackup(backups, wal, o.Target)
	if err != nil {
		return Backup{}, refuse("archive %s: %v", o.URL, err)
	}
	var files []indexedFile
	for _, ib := range ix.Backups {
		if ib.ID == b.ID {
			files = ib.Files
		}
	}
	if err := f.fetchBackup(ctx, b, files); err != nil {
		return b, err
	}
	n, bytes, err := f.fetchWAL(ctx, neededWAL(wal, b))
	if err != nil {
		return b, err
	}
	if err := syncDir(WALDir(o.Dir)); err != nil {
		return b, err
	}
	f.logf("%d WAL files (%s) into %s; fetched in %s", n, byteCount(bytes), WALDir(o.Dir), now().Sub(start).Round(time.Millisecond))
	return b, nil
}

type fetcher struct {
	o      FetchOptions
	client *http.Client
	base   *url.URL
}

func (f *fetcher) logf(format string, args ...any) {
	if f.o.Log != nil {
		fmt.Fprintf(f.o.Log, "archive fetch: "+format+"\n", args...)
	}
}

// url is the server's address of path (/index.json, /wal/<name>, ...):
// the user and password never appear in it.
func (f *fetcher) url(elem ...string) string {
	return f.base.JoinPath(elem...).String()
}

// checkIndex reads the server's listing as Restore reads the archive,
// refusing a name that is not one of the archive's (it becomes a local
// path).
func (f *fetcher) checkIndex(ix index) ([]Backup, []WALFile, error) {
	var backups []Backup
	for _, ib := range ix.Backups {
		if !validBackupID(ib.ID) {
			return nil, nil, fmt.Errorf("%s lists a base backup named %q, which is not a base backup's name", f.url(indexPath), ib.ID)
		}
		for _, file := range ib.Files {
			if !isBackupFile(file.Name) {
				return nil, nil, fmt.Errorf("%s lists %q in base backup %s, which is not a base backup's file", f.url(indexPath), file.Name, ib.ID)
			}
		}
		backups = append(backups, ib.Backup)
	}
	sortBackups(backups)
	var wal []WALFile
	for _, file := range ix.WAL {
		w, ok := parseWALName(file.Name)
		if !ok {
			return nil, nil, fmt.Errorf("%s lists %q, which is not a WAL file's name", f.url(indexPath), file.Name)
		}
		w.Size, w.ModTime = file.Size, file.ModTime
		wal = append(wal, w)
	}
	sortWAL(wal)
	return backups, wal, nil
}

// neededWAL is the WAL a restore from b may read: every timeline's
// segments from b's start on, complete or partial (recovery follows the
// timelines to the latest), and every history file.
func neededWAL(wal []WALFile, b Backup) []WALFile {
	var out []WALFile
	for _, w := range wal {
		if w.History || w.Segment >= b.StartLSN.Segment() {
			out = append(out, w)
		}
	}
	return out
}

func (f *fetcher) fetchBackup(ctx context.Context, b Backup, files []indexedFile) error {
	have := map[string]bool{}
	var bytes int64
	for _, file := range files {
		have[file.Name] = true
		bytes += file.Size
	}
	for _, name := range []string{baseTar, metaFile} {
		if !have[name] {
			return fmt.Errorf("%s: base backup %s has no %s", f.url(indexPath), b.ID, name)
		}
	}
	tmp := filepath.Join(baseDir(f.o.Dir), tmpPrefix+b.ID)
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return fmt.Errorf("fetch base backup %s: %w", b.ID, err)
	}
	f.logf("base backup %s (finished %s, %s) into %s", b.ID, formatTime(b.Finished), byteCount(bytes), filepath.Join(baseDir(f.o.Dir), b.ID))
	for _, file := range files {
		if _, err := f.download(ctx, []string{baseSubdir, b.ID, file.Name}, tmp, file); err != nil {
			return err
		}
	}
	if err := syncDir(tmp); err != nil {
		return err
	}
	final := filepath.Join(baseDir(f.o.Dir), b.ID)
	if err := os.Rename(tmp, final); err != nil {
		return fmt.Errorf("fetch base backup %s: %w", b.ID, err)
	}
	return syncDir(baseDir(f.o.Dir))
}

func (f *fetcher) fetchWAL(ctx context.Context, wal []WALFile) (int, int64, error) {
	if err := os.MkdirAll(WALDir(f.o.Dir), 0o700); err != nil {
		return 0, 0, fmt.Errorf("fetch the WAL: %w", err)
	}
	var bytes int64
	for _, w := range wal {
		file := indexedFile{Name: w.Name, Size: w.Size, ModTime: w.ModTime}
		n, err := f.download(ctx, []string{walSubdir, w.Name}, WALDir(f.o.Dir), file)
		if errors.Is(err, errGone) && w.Partial {
			// pg_receivewal finished the segment since the index was read
			// and renamed it: the complete one holds all the partial did.
			file.Name, file.Size = strings.TrimSuffix(w.Name, ".partial"), -1
			n, err = f.download(ctx, []string{walSubdir, file.Name}, WALDir(f.o.Dir), file)
		}
		if err != nil {
			return 0, 0, err
		}
		bytes += n
	}
	return len(wal), bytes, nil
}

// errGone is a file the index listed that the server no longer has.
var errGone = errors.New("gone from the archive since its index was read")

// download fetches the server's file at path into dir under file.Name:
// written to a temporary name, its size checked against file.Size (-1:
// what the server says), flushed, given the server's modification time,
// and renamed.
func (f *fetcher) download(ctx context.Context, path []string, dir string, file indexedFile) (int64, error) {
	u := f.url(path...)
	resp, err := f.get(ctx, u)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	want := file.Size
	if want < 0 {
		want = resp.ContentLength
	}
	if resp.ContentLength >= 0 && resp.ContentLength != want {
		return 0, fmt.Errorf("%s: the server sends %d bytes, its index listed %d: the archive changed, fetch again", u, resp.ContentLength, want)
	}
	tmp := filepath.Join(dir, ".fetch-"+file.Name)
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return 0, fmt.Errorf("fetch %s: %w", u, err)
	}
	n, err := io.Copy(out, resp.Body)
	switch {
	case err != nil && ctx.Err() == nil:
		err = fmt.Errorf("received %d bytes of %d: %w", n, want, err)
	case err == nil && want >= 0 && n != want:
		err = fmt.Errorf("received %d bytes of %d", n, want)
	}
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil && !file.ModTime.IsZero() {
		err = os.Chtimes(tmp, file.ModTime, file.ModTime)
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, file.Name))
	}
	if err != nil {
		os.Remove(tmp)
		if ctx.Err() != nil {
			return n, fmt.Errorf("fetch %s: %w", u, ctx.Err())
		}
		return n, fmt.Errorf("fetch %s into %s: %w", u, dir, err)
	}
	return n, nil
}

func (f *fetcher) getJSON(ctx context.Context, path string, v any) error {
	u := f.url(path)
	resp, err := f.get(ctx, u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("%s: not the archive's index: %w", u, err)
	}
	return nil
}

// get sends an authenticated GET and turns a refusal into what it means.
func (f *fetcher) get(ctx context.Context, u string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", u, err)
	}
	req.SetBasicAuth(f.o.User, f.o.Password)
	resp, err := f.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("fetch %s: %w", u, ctx.Err())
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("cannot reach the archive server at %s: %w", u, err)
	}
	if resp.StatusCode == http.StatusOK {
		return resp, nil
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		return nil, fmt.Errorf("%s: the archive server refused login %q: wrong password (401)", u, f.o.User)
	case http.StatusNotFound:
		return nil, fmt.Errorf("%s: %w (404)", u, errGone)
	}
	return nil, fmt.Errorf("%s: %s: %s", u, resp.Status, strings.TrimSpace(string(body)))
}

// prepareCopyDir makes dir an empty directory holding only the marker:
// it accepts an absent or empty one, and replaces a copy Fetch made.
func prepareCopyDir(dir string) error {
	if dir == "" {
		return refuse("no directory for the archive's copy given")
	}
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("archive copy %s: %w", dir, err)
	case len(entries) == 0:
	default:
		if _, err := os.Lstat(filepath.Join(dir, copyMarker)); err != nil {
			return refuse("archive copy %s is not empty (it has %s) and is no copy poolctl made (no %s): give an empty or absent directory", dir, entries[0].Name(), copyMarker)
		}
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("remove the previous archive copy %s: %w", dir, err)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("archive copy %s: %w", dir, err)
	}
	marker := "a copy of the pool's archive made by poolctl archive restore; the next fetch into this directory replaces it\n"
	if err := os.WriteFile(filepath.Join(dir, copyMarker), []byte(marker), 0o600); err != nil {
		return fmt.Errorf("archive copy %s: %w", dir, err)
	}
	return nil
}

// CheckDataDir refuses a data directory that Restore would refuse: one
// that is not empty. A restore from an archive server checks it before
// fetching.
func CheckDataDir(dir string) error { return checkEmpty(dir) }

func byteCount(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	default:
		return fmt.Sprintf("%d bytes", n)
	}
}
