package walletprobe

import (
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/scryptpool/poolmicrocloud/tools/internal/basicauth"
)

// BackupsPath is where a probe serves its wallet's backup copies, as
// BackupsPath + name: the backup job fetches the copy the daemon wrote on
// this node so that it also lives on the backup volume's node.
const BackupsPath = "/wallet-backups/"

// backupName is every name the probe serves: the daily slots the backup
// job has the daemon write (housekeeping.WalletSlot). Nothing else in the
// directory, nor anything outside it, is reachable.
var backupName = regexp.MustCompile(`^wallet-day[0-9]+\.dat$`)

// Backups serves the copies of the wallet that the daemon wrote into Dir,
// to the backup job's login only. A nil *Backups serves nothing (404):
// a probe deployed without the login.
type Backups struct {
	Dir            string
	User, Password string
}

// Handler serves GET BackupsPath + name.
func (b *Backups) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if b == nil || b.Dir == "" || b.User == "" || b.Password == "" {
			http.NotFound(w, r)
			return
		}
		if !basicauth.Valid(r, b.User, b.Password) {
			w.Header().Set("WWW-Authenticate", `Basic realm="wallet backups"`)
			http.Error(w, "the backup job's wallet login is required", http.StatusUnauthorized)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "only GET", http.StatusMethodNotAllowed)
			return
		}
		name, ok := strings.CutPrefix(r.URL.Path, BackupsPath)
		if !ok || !backupName.MatchString(name) {
			http.NotFound(w, r)
			return
		}
		b.serve(w, r, name)
	})
}

func (b *Backups) serve(w http.ResponseWriter, r *http.Request, name string) {
	// The root keeps a symlink in the directory from leading out of it.
	root, err := os.OpenRoot(b.Dir)
	if err != nil {
		http.Error(w, "the backups directory cannot be read", http.StatusInternalServerError)
		return
	}
	defer root.Close()
	f, err := root.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		http.Error(w, "the copy cannot be read", http.StatusInternalServerError)
		return
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil || !info.Mode().IsRegular() {
		http.NotFound(w, r)
		return
	}
	// The length is what the fetching side checks the copy against.
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(info.Size(), 10))
	w.Header().Set("Last-Modified", info.ModTime().UTC().Format(http.TimeFormat))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = io.Copy(w, io.LimitReader(f, info.Size()))
}
