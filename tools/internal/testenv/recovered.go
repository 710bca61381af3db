package testenv

import (
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// StartRecovered starts PostgreSQL 15 on a data directory restored from
// a backup of the pool's database (a Patroni member's copy), on
// 127.0.0.1 and a free port, as the postgres OS user, and waits until it
// accepts connections: with hot standby off, that is once recovery has
// ended and the server promoted. The member's settings that would reach
// back to the live cluster are overridden: no archiving, no synchronous
// standby to wait for, its own pg_hba.conf. user and password are the
// restored cluster's login for DSN. It is stopped when the test ends.
func StartRecovered(t testing.TB, dataDir, user, password string) *Postgres {
	t.Helper()
	Integration(t)
	cred := postgresCredential(t)
	for _, d := range []string{filepath.Dir(filepath.Dir(dataDir)), filepath.Dir(dataDir)} {
		require.NoError(t, os.Chmod(d, 0o711), "let the postgres user traverse %s", d)
	}
	require.NoError(t, filepath.WalkDir(dataDir, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, int(cred.Uid), int(cred.Gid))
	}), "give %s to the postgres user", dataDir)
	require.Less(t, len(dataDir)+len("/.s.PGSQL.65535"), 108, "unix socket path under %s is too long", dataDir)
	overrides := []string{
		"archive_mode = off",
		"synchronous_standby_names = ''",
		"hot_standby = off",
		"hba_file = '" + filepath.Join(dataDir, "pg_hba.conf") + "'",
		"ident_file = '" + filepath.Join(dataDir, "pg_ident.conf") + "'",
	}
	f, err := os.OpenFile(filepath.Join(dataDir, "postgresql.auto.conf"), os.O_APPEND|os.O_WRONLY, 0o600)
	require.NoError(t, err)
	_, err = f.WriteString("# a test's restore: nothing reaches back to the live cluster\n" + strings.Join(overrides, "\n") + "\n")
	require.NoError(t, err)
	require.NoError(t, f.Close())

	p := &Postgres{
		Host: "127.0.0.1", Port: freePort(t), User: user, Password: password, Database: "postgres",
		DataDir: dataDir, t: t, logPath: filepath.Join(filepath.Dir(dataDir), filepath.Base(dataDir)+".log"), osUser: cred,
	}
	p.DSN = (&url.URL{Scheme: "postgres", User: url.UserPassword(user, password), Host: fmt.Sprintf("%s:%d", p.Host, p.Port),
		Path: "/postgres", RawQuery: "sslmode=disable"}).String()
	t.Cleanup(p.cleanup)
	p.Start()
	return p
}

// Log is the server's log so far.
func (p *Postgres) Log() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return err.Error()
	}
	return string(b)
}
