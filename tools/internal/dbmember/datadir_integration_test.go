package dbmember_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/dbcluster"
	"github.com/scryptpool/poolmicrocloud/tools/internal/dbmember"
	"github.com/scryptpool/poolmicrocloud/tools/internal/testenv"
)

const pgBin = "/usr/lib/postgresql/15/bin"

// initdb makes a PostgreSQL cluster of its own in dir, as the postgres user.
func initdb(t *testing.T, dir string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(pgBin, "initdb"), "--no-sync", "-D", dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: postgresCred(t)}
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
}

func postgresCred(t *testing.T) *syscall.Credential {
	out, err := exec.Command("id", "-u", "postgres").Output()
	require.NoError(t, err)
	var uid, gid uint32
	_, err = fmtSscan(string(out), &uid)
	require.NoError(t, err)
	out, err = exec.Command("id", "-g", "postgres").Output()
	require.NoError(t, err)
	_, err = fmtSscan(string(out), &gid)
	require.NoError(t, err)
	return &syscall.Credential{Uid: uid, Gid: gid}
}

// corruptControl overwrites part of pg_control, as a torn write would.
func corruptControl(t *testing.T, dataDir string) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dataDir, "global", "pg_control"), os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteAt([]byte("not a control file, a torn write"), 64)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

func TestInspectReadsTheControlFile(t *testing.T) {
	testenv.Integration(t)
	base := t.TempDir()
	for _, d := range []string{filepath.Dir(base), base} {
		require.NoError(t, os.Chmod(d, 0o777), "let the postgres user write in %s", d)
	}
	empty, err := dbmember.Inspect(filepath.Join(base, "none"), pgBin)
	require.NoError(t, err)
	assert.True(t, empty.Empty)

	dir := filepath.Join(base, "data")
	initdb(t, dir)
	d, err := dbmember.Inspect(dir, pgBin)
	require.NoError(t, err)
	assert.Regexp(t, `^\d{10,}$`, d.SystemID)
	assert.Empty(t, d.Broken)

	corruptControl(t, dir)
	d, err = dbmember.Inspect(dir, pgBin)
	require.NoError(t, err)
	assert.Equal(t, "pg_control fails its checksum", d.Broken)

	require.NoError(t, os.Remove(filepath.Join(dir, "global", "pg_control")))
	d, err = dbmember.Inspect(dir, pgBin)
	require.NoError(t, err)
	assert.Contains(t, d.Broken, "could not open file")
}

// A replica whose data directory is broken, then one whose data
// directory is another cluster's, is set aside and rebuilt from the
// primary, never run or promoted: the primary stays the primary and the
// member comes back as its synchronous standby.
func TestABadReplicaIsRebuiltNotPromoted(t *testing.T) {
	consul := testenv.StartConsul(t)
	const pool = "rebuild"
	members := testenv.StartPatroni(t, consul.Addr, pool, "pi-01", "pi-02")
	kv := consul.Client(t).KV()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	waitHealth := func(what string, healthy bool) *dbcluster.View {
		t.Helper()
		var v *dbcluster.View
		var err error
		require.Eventually(t, func() bool {
			v, err = dbcluster.Read(ctx, kv, pool, 2)
			return err == nil && (v.Judge().Health == dbcluster.Healthy) == healthy
		}, 2*time.Minute, 250*time.Millisecond, "%s: %v %+v", what, err, v)
		return v
	}
	healthy := func(what string) *dbcluster.View { return waitHealth(what, true) }
	start := healthy("a primary and a synchronous standby")
	var replica *testenv.Patroni
	for _, m := range members {
		if m.Name != start.Leader {
			replica = m
		}
	}
	require.NotNil(t, replica)

	for _, damage := range []struct {
		name string
		do   func(dataDir string)
	}{
		{"pg_control torn", func(dataDir string) { corruptControl(t, dataDir) }},
		{"another cluster's data directory", func(dataDir string) {
			require.NoError(t, os.RemoveAll(dataDir))
			initdb(t, dataDir)
		}},
	} {
		t.Run(damage.name, func(t *testing.T) {
			replica.Kill()
			// The primary gives up on its synchronous standby.
			waitHealth("the primary alone", false)
			damage.do(replica.DataDir)
			replica.Start()
			v := healthy("the damaged replica rebuilt as synchronous standby")
			assert.Equal(t, start.Leader, v.Leader, "the primary stayed the primary")
			assert.True(t, slices.Contains(v.SyncStandbys, replica.Name), "%s is the synchronous standby again", replica.Name)
			aside, _ := filepath.Glob(replica.DataDir + ".set-aside-*")
			assert.Len(t, aside, 1, "the damaged data directory is kept aside, the newest only")
			assert.Contains(t, replica.LogTail(), "set aside, to be replaced by a copy of the primary "+start.Leader)
		})
	}
}

func fmtSscan(s string, v *uint32) (int, error) { return fmt.Sscan(s, v) }
