package walletprobe

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The probe serves the daemon's daily copies to the backup login, and
// nothing else to anyone: no listing, no other file, nothing outside the
// directory, whatever the path says.
func TestBackupsServeOnlyTheDailyCopiesToTheBackupLogin(t *testing.T) {
	top := t.TempDir()
	dir := filepath.Join(top, "backups")
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "wallet-day03.dat"), 0o700), "a directory with a slot's name")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "wallet-day01.dat"), []byte("the wallet copy"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "wallet.dat"), []byte("not a slot"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "wallet-day01.dat.partial"), []byte("not a slot"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(top, "secret"), []byte("outside"), 0o600))
	require.NoError(t, os.MkdirAll(filepath.Join(top, "other"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(top, "other", "wallet-day05.dat"), []byte("outside"), 0o600))
	require.NoError(t, os.Symlink(filepath.Join(top, "secret"), filepath.Join(dir, "wallet-day02.dat")))

	serve := func(b *Backups) string {
		srv := httptest.NewServer((&Probe{Backups: b}).Handler())
		t.Cleanup(srv.Close)
		return srv.URL
	}
	withLogin := serve(&Backups{Dir: dir, User: "pool-backup", Password: "s3cret"})
	without := serve(nil)
	noRedirects := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	for _, tc := range []struct {
		name, server, method, path string
		user, password             string
		noAuth                     bool
		code                       int
		body                       string
	}{
		{name: "the day's copy", path: "/wallet-backups/wallet-day01.dat", code: http.StatusOK, body: "the wallet copy"},
		{name: "its length only", method: http.MethodHead, path: "/wallet-backups/wallet-day01.dat", code: http.StatusOK},
		{name: "no login", noAuth: true, path: "/wallet-backups/wallet-day01.dat", code: http.StatusUnauthorized},
		{name: "wrong password", password: "s3cres", path: "/wallet-backups/wallet-day01.dat", code: http.StatusUnauthorized},
		{name: "longer password", password: "s3cret-and-more", path: "/wallet-backups/wallet-day01.dat", code: http.StatusUnauthorized},
		{name: "another login", user: "pool-payout", path: "/wallet-backups/wallet-day01.dat", code: http.StatusUnauthorized},
		{name: "no login, a bad name alike", noAuth: true, path: "/wallet-backups/wallet.dat", code: http.StatusUnauthorized},
		{name: "a slot not written yet", path: "/wallet-backups/wallet-day09.dat", code: http.StatusNotFound},
		{name: "no listing", path: "/wallet-backups/", code: http.StatusNotFound},
		{name: "the wallet itself", path: "/wallet-backups/wallet.dat", code: http.StatusNotFound},
		{name: "a partial file", path: "/wallet-backups/wallet-day01.dat.partial", code: http.StatusNotFound},
		{name: "a slot that is a directory", path: "/wallet-backups/wallet-day03.dat", code: http.StatusNotFound},
		{name: "not a day", path: "/wallet-backups/wallet-dayX.dat", code: http.StatusNotFound},
		{name: "a slot in a subdirectory", path: "/wallet-backups/sub/wallet-day01.dat", code: http.StatusNotFound},
		{name: "traversal", path: "/wallet-backups/../secret", code: http.StatusTemporaryRedirect},
		{name: "traversal to a slot's name", path: "/wallet-backups/../other/wallet-day05.dat", code: http.StatusTemporaryRedirect},
		{name: "escaped traversal", path: "/wallet-backups/..%2fsecret", code: http.StatusNotFound},
		{name: "escaped traversal to a slot's name", path: "/wallet-backups/..%2fother%2fwallet-day05.dat", code: http.StatusNotFound},
		{name: "a slot linking out of the directory", path: "/wallet-backups/wallet-day02.dat", code: http.StatusInternalServerError},
		{name: "not a GET", method: http.MethodPost, path: "/wallet-backups/wallet-day01.dat", code: http.StatusMethodNotAllowed},
		{name: "a probe without the login", server: without, path: "/wallet-backups/wallet-day01.dat", code: http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			server, method, user, password := withLogin, http.MethodGet, "pool-backup", "s3cret"
			if tc.server != "" {
				server = tc.server
			}
			if tc.method != "" {
				method = tc.method
			}
			if tc.user != "" {
				user = tc.user
			}
			if tc.password != "" {
				password = tc.password
			}
			req, err := http.NewRequest(method, server+tc.path, nil)
			require.NoError(t, err)
			if !tc.noAuth {
				req.SetBasicAuth(user, password)
			}
			resp, err := noRedirects.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			assert.Equal(t, tc.code, resp.StatusCode, "%s", body)
			assert.NotContains(t, string(body), "outside")
			assert.NotContains(t, string(body), "not a slot")
			if tc.code == http.StatusOK {
				assert.Equal(t, tc.body, string(body))
				assert.Equal(t, int64(len("the wallet copy")), resp.ContentLength)
			}
			if resp.StatusCode == http.StatusTemporaryRedirect {
				// Go's mux sends a cleaned path elsewhere, never into the
				// backups.
				assert.False(t, strings.HasPrefix(resp.Header.Get("Location"), BackupsPath), resp.Header.Get("Location"))
			}
		})
	}
}
