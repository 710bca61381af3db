package dbmember_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/dbmember"
	"github.com/scryptpool/poolmicrocloud/tools/internal/secrets"
	"github.com/scryptpool/poolmicrocloud/tools/internal/testenv"
)

// Two members with the pool's real configuration: the new cluster has the
// pool's login and database (post_bootstrap), the replication and rewind
// logins, and a member that becomes primary puts new credentials from the
// job's variable in place (on_role_change) with nobody touching it.
func TestMembersKeepTheLoginsOfTheVariable(t *testing.T) {
	consul := testenv.StartConsul(t)
	members := testenv.StartPatroni(t, consul.Addr, "logins", "pi-01", "pi-02")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	connect := func(dsn string) (*pgx.Conn, error) {
		var conn *pgx.Conn
		var err error
		for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
			if conn, err = pgx.Connect(ctx, dsn); err == nil {
				return conn, nil
			}
		}
		return nil, err
	}
	conn, err := connect(testenv.PoolDSN(members))
	require.NoError(t, err, "the pool's login reaches the primary")
	_, err = conn.Exec(ctx, "CREATE TABLE t (v int)")
	require.NoError(t, err, "the pool's login owns its database")
	var replication bool
	require.NoError(t, conn.QueryRow(ctx, "SELECT rolreplication FROM pg_roles WHERE rolname = $1", dbmember.ReplicationUser).Scan(&replication))
	assert.True(t, replication, "the replication login may stream")
	// pg_rewind calls them in the database postgres, where they are granted.
	pgdb, err := connect(strings.Replace(testenv.PoolDSN(members), "/pool?", "/postgres?", 1))
	require.NoError(t, err)
	defer pgdb.Close(ctx)
	var rewindGrants int
	require.NoError(t, pgdb.QueryRow(ctx, `SELECT count(*) FROM pg_proc WHERE proname IN ('pg_ls_dir', 'pg_stat_file', 'pg_read_binary_file') AND has_function_privilege($1, oid, 'EXECUTE')`, dbmember.RewindUser).Scan(&rewindGrants))
	assert.GreaterOrEqual(t, rewindGrants, 4, "pg_rewind's functions are granted to the rewind login")
	var primaryPort int
	require.NoError(t, conn.QueryRow(ctx, "SELECT inet_server_port()").Scan(&primaryPort))

	// The web job's login reads the pool's tables, those made after it
	// was granted included, and writes nothing: not in its read-only
	// sessions, and not when it turns them read-write.
	_, err = conn.Exec(ctx, "INSERT INTO t VALUES (42)")
	require.NoError(t, err)
	web, err := connect(testenv.WebDSN(members))
	require.NoError(t, err, "the read-only login reaches the primary")
	defer web.Close(ctx)
	var v int
	require.NoError(t, web.QueryRow(ctx, "SELECT v FROM t").Scan(&v), "the read-only login may select")
	assert.Equal(t, 42, v)
	_, err = web.Exec(ctx, "INSERT INTO t VALUES (1)")
	assert.ErrorContains(t, err, "read-only transaction", "its sessions start read-only")
	_, err = web.Exec(ctx, "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE")
	require.NoError(t, err)
	for _, stmt := range []string{"INSERT INTO t VALUES (1)", "UPDATE t SET v = 0", "DELETE FROM t", "CREATE TABLE mine (v int)",
		// What PostgreSQL gives every role in a database: taken away.
		"CREATE TEMPORARY TABLE scratch (v int)", "SELECT lo_from_bytea(0, 'x')", "SELECT lo_create(0)",
		"SELECT pg_advisory_lock(1)", "SELECT pg_try_advisory_xact_lock(1, 2)"} {
		_, err = web.Exec(ctx, stmt)
		assert.ErrorContains(t, err, "permission denied", "the read-only login may not: %s", stmt)
	}
	var limit int
	var settings []string
	require.NoError(t, web.QueryRow(ctx, "SELECT rolconnlimit, coalesce(rolconfig, '{}') FROM pg_roles WHERE rolname = current_user").Scan(&limit, &settings))
	assert.Equal(t, dbmember.ReadOnlyConnections, limit)
	assert.Contains(t, settings, "statement_timeout=15s")
	// The pool's own login keeps its advisory locks (migrations, the
	// stats roll-up) and temporary tables.
	for _, stmt := range []string{"SELECT pg_advisory_xact_lock(1)", "SELECT pg_advisory_xact_lock(1, 2)", "CREATE TEMPORARY TABLE scratch (v int)"} {
		_, err = conn.Exec(ctx, stmt)
		assert.NoError(t, err, "the pool's login may: %s", stmt)
	}
	conn.Close(ctx)

	// The job's variable gets a new pool password (a redeploy after the
	// variable was purged): the member that becomes primary applies it.
	old := members[0].Logins()
	var s dbmember.Secrets
	b, err := os.ReadFile(old.SecretsFile)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &s))
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	newPassword := "renewed-" + fmt.Sprint(time.Now().UnixNano())
	s.PoolVerifier, err = secrets.SCRAMVerifier(newPassword, salt)
	require.NoError(t, err)
	b, err = json.Marshal(s)
	require.NoError(t, err)
	require.NoError(t, os.Chmod(old.SecretsFile, 0o600))
	require.NoError(t, os.WriteFile(old.SecretsFile, b, 0o400))

	var leader, candidate *testenv.Patroni
	for _, m := range members {
		if m.PGPort == primaryPort {
			leader = m
		} else {
			candidate = m
		}
	}
	require.NotNil(t, leader)
	// A switchover needs the candidate to be the synchronous standby.
	require.Eventually(t, func() bool { return candidate.Answers("/sync") }, 2*time.Minute, 500*time.Millisecond, "the other member becomes the synchronous standby")
	body := fmt.Sprintf(`{"leader": %q, "candidate": %q}`, leader.Name, candidate.Name)
	resp, err := http.Post(fmt.Sprintf("http://127.0.0.1:%d/switchover", leader.APIPort), "application/json", strings.NewReader(body))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	renewed := strings.Replace(testenv.PoolDSN(members), ":"+old.PoolPassword+"@", ":"+newPassword+"@", 1)
	conn, err = connect(renewed)
	require.NoError(t, err, "the new primary took the variable's new password")
	defer conn.Close(ctx)
	var port int
	require.NoError(t, conn.QueryRow(ctx, "SELECT inet_server_port()").Scan(&port))
	assert.Equal(t, candidate.PGPort, port)
	_, err = pgx.Connect(ctx, testenv.PoolDSN(members))
	assert.Error(t, err, "the old password no longer logs in")
}
