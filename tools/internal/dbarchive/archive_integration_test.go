package dbarchive_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/cli"
	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
	"github.com/scryptpool/poolmicrocloud/tools/internal/dbarchive"
	"github.com/scryptpool/poolmicrocloud/tools/internal/testenv"
)

const pgBin = "/usr/lib/postgresql/15/bin"

// The archive of a real two-member Patroni cluster: WAL streamed through
// the permanent slot, a base backup at start; rows are written all along;
// the primary loses power while the archive streams and rows flow; the
// archive follows the new primary. Restores into empty directories, each
// started as PostgreSQL, hold exactly the batches committed before the
// target: one target before the failover, one after it, with rows from
// both timelines. A cluster made from the archive is then archived into
// the same directory: the old archive is not on its history (it branched
// off at the first target), so it is set aside whole, still restorable,
// and the archive starts afresh with the new cluster's WAL and a base
// backup of it.
func TestArchiveFollowsFailoverAndRestores(t *testing.T) {
	testenv.Integration(t)
	consul := testenv.StartConsul(t)
	client := consul.Client(t)
	const pool = "scryptpool"
	members := testenv.StartPatroni(t, consul.Addr, pool, "pi-01", "pi-02")
	byName := map[string]*testenv.Patroni{}
	for _, m := range members {
		byName[m.Name] = m
		m.RegisterService(t, client, pool)
	}
	started := time.Now()
	leader, standbyName := waitForSync(t, client.KV(), pool)
	primary, standby := byName[leader], byName[standbyName]
	require.NotNil(t, primary, "leader %q", leader)
	require.NotNil(t, standby, "sync standby %q", standbyName)
	t.Logf("cluster: %s primary, %s synchronous standby, %s after start", primary.Name, standby.Name, since(started))

	// The permanent slot, and the standbys' copies the archive keeps left
	// alone, as the members' bootstrap.dcs will declare them.
	patchConfig(t, primary, map[string]any{
		"slots":        map[string]any{contract.DatabaseArchiveSlot: map[string]any{"type": "physical"}},
		"ignore_slots": []any{map[string]any{"name": contract.DatabaseArchiveSlot, "type": "physical"}},
	})

	superuser, superPassword := primary.Login(t, "superuser")
	replUser, replPassword := primary.Login(t, "replication")
	dsn := fmt.Sprintf("host=127.0.0.1,127.0.0.1 port=%d,%d user=%s password=%s dbname=postgres target_session_attrs=read-write connect_timeout=2 sslmode=disable",
		members[0].PGPort, members[1].PGPort, superuser, superPassword)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	execSQL(t, ctx, dsn, "CREATE TABLE archive_test (batch int NOT NULL, i int NOT NULL, PRIMARY KEY (batch, i))")

	base := t.TempDir()
	dir := filepath.Join(base, "archive")
	events := make(chan dbarchive.Event, 64)
	archiveLog := newLogWriter(t)
	archiveCtx, cancelArchive := context.WithCancel(ctx)
	archiveDone := make(chan error, 1)
	var archiveErr error
	var stopOnce sync.Once
	stopArchive := func() error {
		stopOnce.Do(func() {
			cancelArchive()
			archiveErr = <-archiveDone
		})
		return archiveErr
	}
	defer stopArchive()
	go func() {
		archiveDone <- dbarchive.Run(archiveCtx, dbarchive.RunOptions{
			Dir: dir, Members: dbarchive.ConsulMembers(client, contract.DatabaseService(pool)),
			User: replUser, Password: replPassword, Slot: contract.DatabaseArchiveSlot,
			PGBin: pgBin, BaseBackupEvery: time.Hour, Keep: 24 * time.Hour, SlotCopyEvery: time.Second,
			Log: archiveLog, Notify: func(e dbarchive.Event) { events <- e },
		})
	}()
	first := waitEvent(t, events, dbarchive.EventStreaming, "", 60*time.Second)
	assert.Equal(t, primary.Addr(), first.Member, "the archive streams from the primary")
	backup := waitEvent(t, events, dbarchive.EventBackup, "", 60*time.Second)
	t.Logf("base backup %s: %d bytes in %s", backup.Backup.ID, backup.Backup.Bytes, backup.Backup.Finished.Sub(backup.Backup.Started).Round(time.Millisecond))

	w := startWriter(t, ctx, dsn)
	w.waitAcked(t, 30)
	t1 := w.mark()
	w.waitAcked(t, t1.attempted+20)
	require.Empty(t, w.failedUpTo(t1.attempted), "no write failed before the power cut")

	// Patroni 3.0.2 keeps permanent physical slots on the primary only:
	// the archive keeps the standby's copy, and Patroni leaves it there.
	onStandby := fmt.Sprintf("host=127.0.0.1 port=%d user=%s password=%s dbname=postgres sslmode=disable", standby.PGPort, superuser, superPassword)
	slotOnStandby := "SELECT coalesce((SELECT restart_lsn::text FROM pg_replication_slots WHERE slot_name = '" + contract.DatabaseArchiveSlot + "'), '')"
	backupEnd := backup.Backup.EndLSN.String()
	waitFor(t, 30*time.Second, "the archive's slot on the standby, past the base backup's end", func() bool {
		return query(t, ctx, onStandby, "SELECT coalesce((SELECT restart_lsn >= '"+backupEnd+"'::pg_lsn FROM pg_replication_slots WHERE slot_name = '"+contract.DatabaseArchiveSlot+"'), false)::text") == "true"
	})
	onPrimary := fmt.Sprintf("host=127.0.0.1 port=%d user=%s password=%s dbname=postgres sslmode=disable", primary.PGPort, superuser, superPassword)
	t.Logf("the archive's slot before the failover: at %s on the primary, at %s on the standby",
		query(t, ctx, onPrimary, strings.Replace(slotOnStandby, "''", "'none'", 1)), query(t, ctx, onStandby, slotOnStandby))

	// Power goes with a write in flight: the primary's WAL sender to its
	// standby is stopped, so a commit reaches the archive that the
	// standby never receives (it waits for the synchronous standby, and
	// no client is told of it). The promoted standby's timeline then
	// branches before where the archive's timeline ends, inside the
	// segment being written: the archive follows it, set aside it would
	// be restorable to no point until its next base backup.
	sender := query(t, ctx, onPrimary, "SELECT pid::text FROM pg_stat_replication WHERE application_name = '"+standby.Name+"'")
	senderPID, err := strconv.Atoi(sender)
	require.NoError(t, err, "the primary's WAL sender to %s: %q", standby.Name, sender)
	require.NoError(t, syscall.Kill(senderPID, syscall.SIGSTOP))
	stopped := w.attemptedSoFar()
	waitFor(t, 30*time.Second, "a batch begun after the WAL sender stopped, waiting for the synchronous standby", func() bool {
		return w.attemptedSoFar() > stopped &&
			query(t, ctx, onPrimary, "SELECT count(*)::text FROM pg_stat_activity WHERE wait_event = 'SyncRep'") != "0"
	})
	committed := query(t, ctx, onPrimary, "SELECT pg_current_wal_flush_lsn()::text")
	waitFor(t, 30*time.Second, "the archive flushes the primary's WAL up to "+committed+", which the standby has not", func() bool {
		return query(t, ctx, onPrimary, "SELECT coalesce((SELECT flush_lsn >= '"+committed+"'::pg_lsn FROM pg_stat_replication WHERE application_name = '"+contract.DatabaseArchiveApplication+"'), false)::text") == "true"
	})
	inFlight := w.attemptedSoFar()
	t.Logf("batch %d committed on the primary only, its WAL to %s in the archive, the standby's WAL sender stopped", inFlight, committed)

	primary.Kill()
	killed := time.Now()
	resumed := waitEvent(t, events, dbarchive.EventStreaming, standby.Addr(), 90*time.Second)
	t.Logf("the archive streams from the new primary %s %s after the old one lost power", standby.Name, resumed.At.Sub(killed).Round(100*time.Millisecond))
	// The promoted member had the archive's copy of the slot, and
	// Patroni had left it alone.
	assert.NotContains(t, archiveLog.text(), "has no physical replication slot")
	assert.NotContains(t, archiveLog.text(), "was gone again")
	assert.Contains(t, archiveLog.text(), "WAL the new primary never received", "the archive held the old timeline past the branch")
	assert.NotContains(t, archiveLog.text(), "set the archive aside", "a failover's branch continues the archive")
	afterFailover := w.attemptedSoFar()
	w.waitAcked(t, afterFailover+20)
	t2 := w.mark()
	w.waitAcked(t, t2.attempted+10)
	w.stop()
	acked, failed := w.result()
	t.Logf("writes: %d batches acknowledged, %d failed (around the failover: %v)", len(acked), len(failed), failed)
	for _, b := range acked {
		if b > stopped && b <= inFlight {
			t.Errorf("batch %d was acknowledged, begun after the WAL sender to the standby stopped", b)
		}
	}
	require.Greater(t, t2.attempted, afterFailover, "batches written on the new primary before the second target")

	// The archive has everything the new primary has.
	newPrimary := onStandby
	flushed := query(t, ctx, newPrimary, "SELECT pg_current_wal_flush_lsn()::text")
	waitFor(t, 30*time.Second, "the archive receives the new primary's WAL up to "+flushed, func() bool {
		return query(t, ctx, newPrimary, "SELECT coalesce((SELECT restart_lsn >= '"+flushed+"'::pg_lsn FROM pg_replication_slots WHERE slot_name = '"+contract.DatabaseArchiveSlot+"'), false)::text") == "true"
	})
	require.NoError(t, stopArchive())

	info, err := dbarchive.ReadInfo(ctx, dir, pgBin)
	require.NoError(t, err)
	infoJSON, _ := json.MarshalIndent(info, "", "  ")
	t.Logf("archive info:\n%s", infoJSON)
	require.NotNil(t, info.OldestRestorable)
	assert.True(t, info.OldestRestorable.Before(t1.at), "the first target is restorable")
	assert.Equal(t, uint32(2), info.Timeline, "the archive followed the failover onto timeline 2")
	assert.Empty(t, info.Gap)
	require.NotNil(t, info.LastCommit)
	assert.True(t, info.LastCommit.After(t2.at), "the archive holds commits after the second target")

	// PostgreSQL runs restore_command as the postgres user, as the
	// archive's task does on the backup node.
	giveToPostgres(t, dir)

	start := time.Now()
	data1 := filepath.Join(base, "r1", "data")
	r, err := dbarchive.Restore(ctx, dbarchive.RestoreOptions{Dir: dir, DataDir: data1, Target: t1.at, PGBin: pgBin, Log: newLogWriter(t)})
	require.NoError(t, err)
	assert.False(t, r.ToEnd)
	restored := time.Now()
	pg := testenv.StartRecovered(t, data1, superuser, superPassword)
	t.Logf("restore to the first target: base backup extracted in %s, recovered and promoted in %s", restored.Sub(start).Round(time.Millisecond), since(restored))
	got := batches(t, ctx, pg.DSN)
	assert.Equal(t, seq(1, t1.attempted), got, "exactly the batches committed before %s", t1.at)
	assert.Contains(t, pg.Log(), "recovery stopping before commit of transaction")
	pg.Stop()

	// The second restore through poolctl itself.
	data2 := filepath.Join(base, "r2", "data")
	start = time.Now()
	code, stdout, stderr := poolctl("archive", "restore", "--dir", dir, "--to", t2.at.Format(time.RFC3339Nano), "--data-dir", data2, "--pg-bin", pgBin)
	require.Equal(t, 0, code, "poolctl archive restore:\n%s%s", stdout, stderr)
	t.Logf("poolctl archive restore: %s", strings.TrimSpace(stdout))
	restored = time.Now()
	pg = testenv.StartRecovered(t, data2, superuser, superPassword)
	t.Logf("restore to the second target: base backup extracted in %s, recovered and promoted in %s", restored.Sub(start).Round(time.Millisecond), since(restored))
	got = batches(t, ctx, pg.DSN)
	for _, b := range acked {
		if b <= t2.attempted {
			assert.Contains(t, got, b, "batch %d was acknowledged before %s", b, t2.at)
		}
	}
	for _, b := range got {
		assert.LessOrEqual(t, b, t2.attempted, "batch %d began after %s", b, t2.at)
	}
	assert.NotContains(t, got, inFlight, "batch %d, in the archive on the old timeline past the branch only, is not restored along the new one", inFlight)
	assert.Contains(t, got, t1.attempted+1, "a batch of the first timeline after the first target")
	assert.Contains(t, got, t2.attempted, "the last batch before the second target, on the new timeline")
	pgLog := pg.Log()
	assert.Contains(t, pgLog, "recovery stopping before commit of transaction")
	assert.Contains(t, pgLog, `restored log file "00000002.history" from archive`, "recovery followed the failover's timeline")

	// A restore into what is not empty, or to a time out of reach, is
	// refused with one line and exit code 2.
	for _, tc := range []struct{ name, to, dataDir, want string }{
		{"not empty", t2.at.Format(time.RFC3339Nano), data2, "is not empty"},
		{"before the archive", backup.Backup.Started.Add(-time.Hour).Format(time.RFC3339), filepath.Join(base, "r3"), "is before the oldest restorable point"},
		{"in the future", time.Now().Add(time.Hour).Format(time.RFC3339), filepath.Join(base, "r4"), "is in the future"},
	} {
		code, _, stderr := poolctl("archive", "restore", "--dir", dir, "--to", tc.to, "--data-dir", tc.dataDir, "--pg-bin", pgBin)
		assert.Equal(t, cli.ExitInvalid, code, tc.name)
		assert.Contains(t, stderr, tc.want, tc.name)
		assert.Equal(t, 1, strings.Count(stderr, "\n"), "%s: one line: %s", tc.name, stderr)
	}
	code, stdout, _ = poolctl("archive", "info", "--dir", dir, "--pg-bin", pgBin)
	require.Equal(t, 0, code)
	t.Logf("poolctl archive info:\n%s", stdout)

	// An empty cluster made from the archive, as the README's restore
	// does it: each member runs poolctl database member --restore-from,
	// the one that takes the initialize key restores through Patroni's
	// custom bootstrap, the other clones it. The new primary holds exactly
	// the batches committed before the first target, with the new
	// cluster's logins.
	start = time.Now()
	fresh := testenv.StartPatroniFromArchive(t, consul.Addr, "restored", dir, t1.at, "pi-11", "pi-12")
	var restoredPrimary, follower *testenv.Patroni
	require.Eventually(t, func() bool {
		for i, m := range fresh {
			if m.Answers("/primary") {
				restoredPrimary, follower = m, fresh[1-i]
				return true
			}
		}
		return false
	}, 3*time.Minute, 250*time.Millisecond, "a primary of the cluster made from the archive")
	t.Logf("a cluster made from the archive: %s primary %s after its members started", restoredPrimary.Name, since(start))
	su, pw := restoredPrimary.Login(t, "superuser")
	got = batches(t, ctx, fmt.Sprintf("host=127.0.0.1 port=%d user=%s password=%s dbname=postgres sslmode=disable", restoredPrimary.PGPort, su, pw))
	assert.Equal(t, seq(1, t1.attempted), got, "the cluster made from the archive holds exactly the batches committed before %s", t1.at)
	assert.Contains(t, restoredPrimary.LogTail(), "ensure-logins: the primary's logins", "the restored primary took the new cluster's logins")
	require.Eventually(t, func() bool { return follower.Answers("/sync") }, 3*time.Minute, 250*time.Millisecond,
		"the other member copies the restored primary and becomes its synchronous standby")

	archiveRestored(t, ctx, dir, fresh, restoredPrimary, info)
}

// archiveRestored runs the archive against the cluster made from it, in
// the same directory, whose contents (old, at the time of info) are not
// on the new cluster's history.
func archiveRestored(t *testing.T, ctx context.Context, dir string, fresh []*testenv.Patroni, primary *testenv.Patroni, old dbarchive.Info) {
	patchConfig(t, primary, map[string]any{
		"slots":        map[string]any{contract.DatabaseArchiveSlot: map[string]any{"type": "physical"}},
		"ignore_slots": []any{map[string]any{"name": contract.DatabaseArchiveSlot, "type": "physical"}},
	})
	su, pw := primary.Login(t, "superuser")
	dsn := fmt.Sprintf("host=127.0.0.1 port=%d user=%s password=%s dbname=postgres sslmode=disable", primary.PGPort, su, pw)
	slotThere := "SELECT (count(*) > 0)::text FROM pg_replication_slots WHERE slot_name = '" + contract.DatabaseArchiveSlot + "'"
	waitFor(t, 30*time.Second, "Patroni creates the archive's slot on the restored primary", func() bool { return query(t, ctx, dsn, slotThere) == "true" })
	timeline := query(t, ctx, dsn, "SELECT timeline_id::text FROM pg_control_checkpoint()")
	t.Logf("the restored primary %s is on timeline %s; the old archive holds timeline %d up to %s", primary.Name, timeline, old.Timeline, old.NewestWAL)

	replUser, replPassword := primary.Login(t, "replication")
	addrs := make([]string, len(fresh))
	for i, m := range fresh {
		addrs[i] = m.Addr()
	}
	members, err := dbarchive.StaticMembers(addrs)
	require.NoError(t, err)
	events := make(chan dbarchive.Event, 64)
	archiveLog := newLogWriter(t)
	archiveCtx, cancelArchive := context.WithCancel(ctx)
	done := make(chan error, 1)
	started := time.Now()
	go func() {
		done <- dbarchive.Run(archiveCtx, dbarchive.RunOptions{
			Dir: dir, Members: members,
			User: replUser, Password: replPassword, Slot: contract.DatabaseArchiveSlot,
			PGBin: pgBin, BaseBackupEvery: time.Hour, Keep: 24 * time.Hour, SlotCopyEvery: time.Second,
			Log: archiveLog, Notify: func(e dbarchive.Event) { events <- e },
		})
	}()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancelArchive()
			require.NoError(t, <-done)
		}
	}
	defer stop()

	aside := waitEvent(t, events, dbarchive.EventSetAside, primary.Addr(), 60*time.Second)
	t.Logf("set aside %s after the archive started: %s", aside.At.Sub(started).Round(time.Millisecond), aside.Reason)
	assert.Contains(t, aside.Reason, fmt.Sprintf("the archive holds timeline %d", old.Timeline))
	assert.Equal(t, 1, strings.Count(archiveLog.text(), "set the archive aside into "+aside.SetAside), "one line names the set-aside")
	assert.Equal(t, dir, filepath.Dir(aside.SetAside), "the set-aside is inside the archive directory")
	streaming := waitEvent(t, events, dbarchive.EventStreaming, primary.Addr(), 30*time.Second)
	t.Logf("streaming from the restored primary %s after start", streaming.At.Sub(started).Round(time.Millisecond))

	// The old archive is whole where it was set aside, and restorable.
	setAside, err := dbarchive.ReadInfo(ctx, aside.SetAside, pgBin)
	require.NoError(t, err)
	assert.Equal(t, old.Backups, setAside.Backups, "the old base backups are in the set-aside")
	assert.Equal(t, old.NewestWAL, setAside.NewestWAL)
	assert.Equal(t, old.WALFiles, setAside.WALFiles)
	assert.Equal(t, old.Timeline, setAside.Timeline)
	require.NotNil(t, setAside.OldestRestorable)
	assert.Equal(t, *old.OldestRestorable, *setAside.OldestRestorable)
	assert.Empty(t, setAside.Gap)
	code, stdout, stderr := poolctl("archive", "info", "--dir", aside.SetAside, "--pg-bin", pgBin)
	require.Equal(t, 0, code, stderr)
	t.Logf("poolctl archive info --dir %s:\n%s", aside.SetAside, stdout)

	backup := waitEvent(t, events, dbarchive.EventBackup, "", 90*time.Second)
	t.Logf("a fresh base backup %s of the restored cluster %s after the archive started (%d bytes, timeline %d)",
		backup.Backup.ID, backup.At.Sub(started).Round(time.Millisecond), backup.Backup.Bytes, backup.Backup.Timeline)
	assert.Equal(t, primary.Addr(), backup.Backup.From)
	assert.Equal(t, timeline, strconv.Itoa(int(backup.Backup.Timeline)), "the base backup is of the restored primary's timeline")

	// A row written to the restored cluster now reaches the archive.
	execSQL(t, ctx, dsn, "INSERT INTO archive_test (batch, i) SELECT 1000000, g FROM generate_series(1, 10) g")
	written := time.Now().UTC()
	flushed := query(t, ctx, dsn, "SELECT pg_current_wal_flush_lsn()::text")
	waitFor(t, 30*time.Second, "the archive receives the restored primary's WAL up to "+flushed, func() bool {
		return query(t, ctx, dsn, "SELECT coalesce((SELECT restart_lsn >= '"+flushed+"'::pg_lsn FROM pg_replication_slots WHERE slot_name = '"+contract.DatabaseArchiveSlot+"'), false)::text") == "true"
	})
	stop()
	info, err := dbarchive.ReadInfo(ctx, dir, pgBin)
	require.NoError(t, err)
	infoJSON, _ := json.MarshalIndent(info, "", "  ")
	t.Logf("the fresh archive:\n%s", infoJSON)
	require.Len(t, info.Backups, 1, "only the fresh base backup")
	assert.Equal(t, backup.Backup.ID, info.Backups[0].ID)
	assert.Equal(t, timeline, strconv.Itoa(int(info.Timeline)), "the fresh archive streams the restored primary's timeline")
	require.NotNil(t, info.OldestRestorable)
	assert.Empty(t, info.Gap)
	assert.Equal(t, aside.SetAside, info.SetAside)
	require.NotNil(t, info.LastCommit, "pg_waldump finds the row's commit")
	assert.False(t, info.LastCommit.Before(written.Add(-time.Second)), "the archive holds the commit of the row written at %s", written)
}

func poolctl(args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	code := cli.Main(append([]string{"poolctl"}, args...), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func since(t time.Time) time.Duration { return time.Since(t).Round(100 * time.Millisecond) }

// logWriter passes the archive's lines to the test's log and keeps them.
type logWriter struct {
	t     *testing.T
	mu    *sync.Mutex
	lines *[]string
}

func newLogWriter(t *testing.T) logWriter { return logWriter{t, &sync.Mutex{}, &[]string{}} }

func (w logWriter) Write(p []byte) (int, error) {
	line := strings.TrimRight(string(p), "\n")
	w.t.Log(line)
	w.mu.Lock()
	*w.lines = append(*w.lines, line)
	w.mu.Unlock()
	return len(p), nil
}

func (w logWriter) text() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(*w.lines, "\n")
}

// waitForSync follows the cluster's sync key in Consul with blocking
// queries until it names a leader and a synchronous standby.
func waitForSync(t *testing.T, kv *consulapi.KV, pool string) (leader, standby string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var index uint64
	for {
		pair, meta, err := kv.Get(contract.DatabaseDCSKey(pool, contract.DatabaseKeySync), (&consulapi.QueryOptions{WaitIndex: index, WaitTime: 10 * time.Second}).WithContext(ctx))
		require.NoError(t, err, "a leader and a synchronous standby within 90 s")
		index = meta.LastIndex
		if pair == nil {
			continue
		}
		var sync struct {
			Leader      string  `json:"leader"`
			SyncStandby *string `json:"sync_standby"`
		}
		if json.Unmarshal(pair.Value, &sync) == nil && sync.Leader != "" && sync.SyncStandby != nil && *sync.SyncStandby != "" {
			return sync.Leader, *sync.SyncStandby
		}
	}
}

// patchConfig changes the cluster's shared configuration through a
// member's REST API, as patronictl edit-config does.
func patchConfig(t *testing.T, m *testenv.Patroni, change map[string]any) {
	t.Helper()
	body, err := json.Marshal(change)
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPatch, fmt.Sprintf("http://127.0.0.1:%d/config", m.APIPort), bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "PATCH /config %s", body)
}

func waitEvent(t *testing.T, events <-chan dbarchive.Event, kind dbarchive.EventKind, member string, within time.Duration) dbarchive.Event {
	t.Helper()
	timeout := time.NewTimer(within)
	defer timeout.Stop()
	for {
		select {
		case e := <-events:
			if e.Kind == kind && (member == "" || e.Member == member) {
				return e
			}
		case <-timeout.C:
			require.FailNow(t, "no archive event", "%s %s within %s", kind, member, within)
		}
	}
}

// waitFor polls what cannot be waited on otherwise (a position the
// primary reports), every 100 ms.
func waitFor(t *testing.T, within time.Duration, what string, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !done() {
		require.True(t, time.Now().Before(deadline), "%s within %s", what, within)
		time.Sleep(100 * time.Millisecond)
	}
}

func execSQL(t *testing.T, ctx context.Context, dsn, sql string) {
	t.Helper()
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	require.NoError(t, err, sql)
}

func query(t *testing.T, ctx context.Context, dsn, sql string) string {
	t.Helper()
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var out string
	require.NoError(t, conn.QueryRow(ctx, sql).Scan(&out), sql)
	return out
}

// batches are the batches in a restored database, each checked whole.
func batches(t *testing.T, ctx context.Context, dsn string) []int {
	t.Helper()
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, "SELECT batch, count(*) FROM archive_test GROUP BY batch ORDER BY batch")
	require.NoError(t, err)
	var out []int
	for rows.Next() {
		var b, n int
		require.NoError(t, rows.Scan(&b, &n))
		assert.Equal(t, batchRows, n, "batch %d is whole", b)
		out = append(out, b)
	}
	require.NoError(t, rows.Err())
	return out
}

func seq(from, to int) []int {
	var out []int
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

// giveToPostgres hands the archive to the postgres user, whose
// restore_command reads it.
func giveToPostgres(t *testing.T, dir string) {
	t.Helper()
	u, err := user.Lookup("postgres")
	require.NoError(t, err)
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	for _, d := range []string{filepath.Dir(filepath.Dir(dir)), filepath.Dir(dir)} {
		require.NoError(t, os.Chmod(d, 0o711))
	}
	require.NoError(t, filepath.WalkDir(dir, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, uid, gid)
	}))
}

// batchRows rows make one batch, inserted in one statement.
const batchRows = 10

// writer inserts numbered batches one after the other into whichever
// member accepts writes, reconnecting after a failure; a batch whose
// insert failed is never retried under its number.
type writer struct {
	mu        sync.Mutex
	acked     []int
	failed    []int
	attempted int
	marks     chan chan mark
	cancel    context.CancelFunc
	done      chan struct{}
	changed   chan struct{}
}

// mark is a moment between two batches: every batch up to attempted had
// its answer before at, every later one began after it.
type mark struct {
	at        time.Time
	attempted int
}

func startWriter(t *testing.T, ctx context.Context, dsn string) *writer {
	ctx, cancel := context.WithCancel(ctx)
	w := &writer{marks: make(chan chan mark), cancel: cancel, done: make(chan struct{}), changed: make(chan struct{}, 1)}
	go func() {
		defer close(w.done)
		var conn *pgx.Conn
		defer func() {
			if conn != nil {
				conn.Close(context.Background())
			}
		}()
		for ctx.Err() == nil {
			select {
			case reply := <-w.marks:
				w.mu.Lock()
				m := mark{at: time.Now(), attempted: w.attempted}
				w.mu.Unlock()
				reply <- m
			default:
			}
			if conn == nil {
				cctx, ccancel := context.WithTimeout(ctx, 3*time.Second)
				c, err := pgx.Connect(cctx, dsn)
				ccancel()
				if err != nil {
					select {
					case <-ctx.Done():
					case <-time.After(200 * time.Millisecond):
					}
					continue
				}
				conn = c
			}
			w.mu.Lock()
			w.attempted++
			b := w.attempted
			w.mu.Unlock()
			ictx, icancel := context.WithTimeout(ctx, 5*time.Second)
			_, err := conn.Exec(ictx, "INSERT INTO archive_test (batch, i) SELECT $1, g FROM generate_series(1, $2) g", b, batchRows)
			icancel()
			w.mu.Lock()
			if err == nil {
				w.acked = append(w.acked, b)
			} else {
				w.failed = append(w.failed, b)
			}
			w.mu.Unlock()
			select {
			case w.changed <- struct{}{}:
			default:
			}
			if err != nil {
				conn.Close(context.Background())
				conn = nil
				continue
			}
			select {
			case <-ctx.Done():
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(w.stop)
	return w
}

func (w *writer) mark() mark {
	reply := make(chan mark)
	w.marks <- reply
	return <-reply
}

func (w *writer) attemptedSoFar() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.attempted
}

// waitAcked waits until batch n or a later one is acknowledged.
func (w *writer) waitAcked(t *testing.T, n int) {
	t.Helper()
	timeout := time.NewTimer(90 * time.Second)
	defer timeout.Stop()
	for {
		w.mu.Lock()
		ok := len(w.acked) > 0 && w.acked[len(w.acked)-1] >= n
		w.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-w.changed:
		case <-w.done:
			require.FailNow(t, "the writer stopped")
		case <-timeout.C:
			require.FailNow(t, "writes stalled", "batch %d not acknowledged within 90 s", n)
		}
	}
}

func (w *writer) failedUpTo(n int) []int {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []int
	for _, b := range w.failed {
		if b <= n {
			out = append(out, b)
		}
	}
	return out
}

func (w *writer) stop() {
	w.cancel()
	<-w.done
}

func (w *writer) result() (acked, failed []int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.acked), slices.Clone(w.failed)
}
