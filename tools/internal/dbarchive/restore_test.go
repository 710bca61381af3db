package dbarchive

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// runRestoreCommand runs restore_command as PostgreSQL does: %f and %p
// replaced, %% a literal %, through sh -c.
func runRestoreCommand(t *testing.T, command, file, dest string) error {
	t.Helper()
	r := strings.NewReplacer("%%", "%", "%f", file, "%p", dest)
	return exec.Command("/bin/sh", "-c", r.Replace(command)).Run()
}

func TestRestoreCommand(t *testing.T) {
	const seg, next = "000000020000000000000005", "000000020000000000000006"
	for _, tc := range []struct {
		name  string
		files map[string]string // in the archive's wal/
		ask   string
		want  string // "" : not found
	}{
		{"a complete segment", map[string]string{seg: "complete"}, seg, "complete"},
		{"only the partial one", map[string]string{seg + ".partial": "partial"}, seg, "partial"},
		{"the complete one wins", map[string]string{seg: "complete", seg + ".partial": "partial"}, seg, "complete"},
		{"missing", map[string]string{seg: "complete"}, next, ""},
		{"a history file", map[string]string{"00000002.history": "1\t0/5000A28\tno recovery target specified"}, "00000002.history", "1\t0/5000A28\tno recovery target specified"},
		{"no history file", map[string]string{seg: "complete"}, "00000003.history", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The archive's path has what needs quoting: a space, a quote, a %.
			dir := filepath.Join(t.TempDir(), "it's 100% archive")
			require.NoError(t, os.MkdirAll(WALDir(dir), 0o700))
			for n, content := range tc.files {
				require.NoError(t, os.WriteFile(filepath.Join(WALDir(dir), n), []byte(content), 0o600))
			}
			dest := filepath.Join(t.TempDir(), "RECOVERYXLOG")
			err := runRestoreCommand(t, RestoreCommand(dir), tc.ask, dest)
			if tc.want == "" {
				assert.Error(t, err, "restore_command fails for a file the archive does not have")
				assert.NoFileExists(t, dest)
				return
			}
			require.NoError(t, err)
			got, err := os.ReadFile(dest)
			require.NoError(t, err)
			assert.Equal(t, tc.want, string(got))
			// The archive is only read.
			for n, content := range tc.files {
				b, err := os.ReadFile(filepath.Join(WALDir(dir), n))
				require.NoError(t, err)
				assert.Equal(t, content, string(b))
			}
		})
	}
}

func TestRecoverySettings(t *testing.T) {
	target := time.Date(2026, 3, 1, 12, 30, 15, 123456789, time.FixedZone("CET", 3600))
	got := RecoverySettings("/backup/o'neil", &target)
	assert.Equal(t, []string{
		`restore_command = 'd=''/backup/o''\''''neil/wal''; if [ -f "$d/%f" ]; then exec cp "$d/%f" "%p"; elif [ -f "$d/%f.partial" ]; then exec cp "$d/%f.partial" "%p"; else exit 1; fi'`,
		// UTC, microseconds: PostgreSQL's precision, truncated so that no
		// commit after the target is replayed.
		"recovery_target_time = '2026-03-01 11:30:15.123456+00'",
		"recovery_target_timeline = 'latest'",
		"recovery_target_action = 'promote'",
	}, got)
	assert.NotContains(t, strings.Join(RecoverySettings("/backup", nil), "\n"), "recovery_target_time =")
}

func TestParseTarget(t *testing.T) {
	want := time.Date(2026, 3, 1, 11, 30, 15, 123456000, time.UTC)
	for _, tc := range []struct {
		in  string
		err string
	}{
		{"2026-03-01T11:30:15.123456Z", ""},
		{"2026-03-01T12:30:15.123456+01:00", ""},
		{"2026-03-01 11:30:15.123456+00", ""},
		{"2026-03-01 12:30:15.123456+01:00", ""},
		{"2026-03-01 11:30:15.123456 UTC", ""},
		{" 2026-03-01 11:30:15.123456 +00 ", ""},
		{"2026-03-01 11:30:15", "has no time zone"},
		{"2026-03-01", "has no time zone"},
		{"yesterday", "is not a time"},
		{"", "is not a time"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseTarget(tc.in)
			if tc.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.err)
				return
			}
			require.NoError(t, err)
			assert.True(t, want.Equal(got), "%s is %s", tc.in, got)
		})
	}
}

// writeTar writes a base backup's tar.gz holding files (name: content;
// a name ending in / is a directory).
func writeTar(t *testing.T, path string, files [][2]string) {
	t.Helper()
	f, err := os.Create(path)
	require.NoError(t, err)
	zw := gzip.NewWriter(f)
	tw := tar.NewWriter(zw)
	for _, e := range files {
		h := &tar.Header{Name: e[0], Mode: 0o600, Size: int64(len(e[1])), Typeflag: tar.TypeReg}
		if strings.HasSuffix(e[0], "/") {
			h.Mode, h.Size, h.Typeflag = 0o700, 0, tar.TypeDir
		}
		require.NoError(t, tw.WriteHeader(h))
		_, err := tw.Write([]byte(e[1]))
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	require.NoError(t, zw.Close())
	require.NoError(t, f.Close())
}

func TestRestore(t *testing.T) {
	a, b := bk("a", 10, 2, 2), bk("b", 34, 5, 6)
	wal := segments(1, 2, 8, true)
	content := [][2]string{
		{"PG_VERSION", "15\n"}, {"global/", ""}, {"global/pg_control", "control"},
		{"./pg_wal/", ""}, {"./pg_wal/archive_status/", ""},
		{"postgresql.auto.conf", "# Do not edit this file manually!\n"},
		{"standby.signal", ""},
	}
	now := func() time.Time { return at(40) }
	archive := func(t *testing.T, tarContent [][2]string) string {
		dir := writeArchive(t, []Backup{a, b}, wal)
		for _, x := range []Backup{a, b} {
			writeTar(t, filepath.Join(baseDir(dir), x.ID, baseTar), tarContent)
		}
		return dir
	}
	restore := func(t *testing.T, dir, dataDir string, target float64) (Restored, error) {
		return Restore(context.Background(), RestoreOptions{Dir: dir, DataDir: dataDir, Target: at(target), Now: now})
	}

	t.Run("into an absent directory", func(t *testing.T) {
		dir := archive(t, content)
		data := filepath.Join(t.TempDir(), "data")
		r, err := restore(t, dir, data, 35)
		require.NoError(t, err)
		assert.Equal(t, "b", r.Backup.ID)
		for _, f := range []string{"PG_VERSION", "global/pg_control", "recovery.signal"} {
			assert.FileExists(t, filepath.Join(data, f))
		}
		assert.DirExists(t, filepath.Join(data, "pg_wal", "archive_status"))
		assert.NoFileExists(t, filepath.Join(data, "standby.signal"), "a restored cluster recovers and promotes, it does not follow")
		auto, err := os.ReadFile(filepath.Join(data, "postgresql.auto.conf"))
		require.NoError(t, err)
		assert.True(t, strings.HasPrefix(string(auto), "# Do not edit this file manually!\n"), "the backup's own settings stay")
		assert.Contains(t, string(auto), "recovery_target_time = '2026-03-02 11:00:00+00'\n")
		st, err := os.Stat(data)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o700), st.Mode().Perm(), "PostgreSQL refuses a data directory others may read")
	})

	for _, tc := range []struct {
		name    string
		target  float64
		prepare func(t *testing.T, data string)
		tar     [][2]string
		err     string
	}{
		{"a target in the future", 41, nil, content, "restore target 2026-03-02 17:00:00Z is in the future (now 2026-03-02 16:00:00Z)"},
		{"a target before the oldest restorable point", 9, nil, content, "2026-03-01 09:00:00Z is before the oldest restorable point 2026-03-01 10:00:00Z (the end of base backup a)"},
		{"a data directory that is not empty", 35, func(t *testing.T, data string) {
			require.NoError(t, os.MkdirAll(data, 0o700))
			require.NoError(t, os.WriteFile(filepath.Join(data, "PG_VERSION"), []byte("15\n"), 0o600))
		}, content, "is not empty (it has PG_VERSION): restore only into an empty directory"},
		{"a tar that reaches outside", 35, nil, [][2]string{{"../escape", "x"}}, `"../escape" lies outside the data directory`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := archive(t, tc.tar)
			data := filepath.Join(t.TempDir(), "data")
			if tc.prepare != nil {
				tc.prepare(t, data)
			}
			_, err := restore(t, dir, data, tc.target)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.err)
			assert.NotContains(t, err.Error(), "\n", "one line")
			assert.NoFileExists(t, filepath.Join(filepath.Dir(data), "escape"))
		})
	}
	t.Run("an empty directory is fine", func(t *testing.T) {
		data := t.TempDir()
		_, err := restore(t, archive(t, content), data, 11)
		require.NoError(t, err)
		assert.FileExists(t, filepath.Join(data, "recovery.signal"))
	})
}

func TestRunOptionsCheck(t *testing.T) {
	good := func() RunOptions {
		m, _ := StaticMembers([]string{"127.0.0.1:5432"})
		return RunOptions{Dir: "/backup", Members: m, User: "replicator", Password: "pw", Slot: "archive",
			PGBin: "/usr/lib/postgresql/15/bin", BaseBackupEvery: 24 * time.Hour, Keep: 14 * 24 * time.Hour}
	}
	for _, tc := range []struct {
		name   string
		change func(*RunOptions)
		err    string
	}{
		{"no directory", func(o *RunOptions) { o.Dir = "" }, "no archive directory given"},
		{"no password", func(o *RunOptions) { o.Password = "" }, "the replication login's password is empty"},
		{"a slot Patroni refuses", func(o *RunOptions) { o.Slot = "Archive-1" }, `replication slot "Archive-1": only a-z, 0-9 and _`},
		{"backups too often", func(o *RunOptions) { o.BaseBackupEvery = time.Second }, "at least a minute apart"},
		{"keeping less than an interval", func(o *RunOptions) { o.Keep = time.Hour }, "keep at least one interval"},
		{"no pg_receivewal", func(o *RunOptions) { o.PGBin = "/nonexistent" }, "pg_receivewal is missing from /nonexistent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := good()
			tc.change(&o)
			err := o.Check()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.err)
		})
	}
	if _, err := os.Stat("/usr/lib/postgresql/15/bin/pg_receivewal"); err == nil {
		assert.NoError(t, good().Check())
	}
}

func TestStaticMembers(t *testing.T) {
	for _, bad := range [][]string{nil, {"127.0.0.1"}, {"127.0.0.1:0"}, {":5432"}, {"127.0.0.1:99999"}} {
		_, err := StaticMembers(bad)
		assert.Error(t, err, "%q", bad)
	}
	m, err := StaticMembers([]string{"10.0.0.1:5432", "[::1]:5433"})
	require.NoError(t, err)
	got, err := m(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "host=10.0.0.1,::1 port=5432,5433 user=replicator dbname=postgres application_name=poolctl-archive target_session_attrs=read-write connect_timeout=5",
		connString(got, "replicator", "poolctl-archive", "read-write"))
	assert.Equal(t, `user='o\'neil x'`, "user="+kvQuote("o'neil x"))
}
