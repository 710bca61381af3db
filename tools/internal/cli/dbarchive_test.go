package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/scryptpool/poolmicrocloud/tools/internal/cli"
)

func TestArchiveArguments(t *testing.T) {
	dir := t.TempDir()
	password := filepath.Join(dir, "password")
	assert.NoError(t, os.WriteFile(password, []byte("secret\n"), 0o600))
	empty := filepath.Join(dir, "empty")
	assert.NoError(t, os.WriteFile(empty, []byte("\n"), 0o600))
	t.Setenv("PGPASSWORD", "")
	archiveRun := func(args ...string) []string { return append([]string{"archive", "run", "--dir", dir}, args...) }
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"restore: a time without a zone", []string{"archive", "restore", "--dir", dir, "--to", "2026-03-01 12:00:00", "--data-dir", filepath.Join(dir, "d")}, cli.ExitInvalid, "--to: restore target \"2026-03-01 12:00:00\" has no time zone"},
		{"restore: not a time", []string{"archive", "restore", "--dir", dir, "--to", "now", "--data-dir", filepath.Join(dir, "d")}, cli.ExitInvalid, "is not a time such as"},
		{"restore: an archive without base backups", []string{"archive", "restore", "--dir", dir, "--to", "2000-03-01T12:00:00Z", "--datadir", filepath.Join(dir, "d")}, cli.ExitInvalid, "the archive has no base backup yet"},
		{"run: no password", archiveRun("--member", "127.0.0.1:5432"), cli.ExitInvalid, "give --password-file or $PGPASSWORD"},
		{"run: an empty password file", archiveRun("--member", "127.0.0.1:5432", "--password-file", empty), cli.ExitInvalid, "the replication password is empty"},
		{"run: a member without a port", archiveRun("--member", "127.0.0.1", "--password-file", password), cli.ExitInvalid, `--member: member "127.0.0.1" is not host:port`},
		{"run: keeping no days", archiveRun("--member", "127.0.0.1:5432", "--password-file", password, "--keep-days", "0"), cli.ExitInvalid, "--keep-days must be at least 1"},
		{"run: a slot Patroni refuses", archiveRun("--member", "127.0.0.1:5432", "--password-file", password, "--slot", "my-archive"), cli.ExitInvalid, `replication slot "my-archive"`},
		{"run: base backups too often", archiveRun("--member", "127.0.0.1:5432", "--password-file", password, "--base-backup-every", "10s"), cli.ExitInvalid, "at least a minute apart"},
		{"run: no PostgreSQL programs", archiveRun("--member", "127.0.0.1:5432", "--password-file", password, "--pg-bin", "/nonexistent"), cli.ExitInvalid, "pg_receivewal is missing from /nonexistent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := run(t, tc.args...)
			assert.Equal(t, tc.code, code, stderr)
			assert.Contains(t, stderr, tc.stderr)
			assert.Equal(t, 1, strings.Count(stderr, "\n"), "one line: %q", stderr)
		})
	}
}
