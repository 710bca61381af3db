package dbmember

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scryptpool/poolmicrocloud/tools/internal/secrets"
)

// rewindFunctions are what pg_rewind calls on the primary as the rewind
// login (Patroni grants the same at bootstrap).
var rewindFunctions = []string{
	"pg_catalog.pg_ls_dir(text, boolean, boolean)",
	"pg_catalog.pg_stat_file(text, boolean)",
	"pg_catalog.pg_read_binary_file(text)",
	"pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean)",
}

// Login is one role EnsureLogins keeps as the job's variable says.
type Login struct {
	Role     string
	Verifier string // SCRAM-SHA-256 verifier
	// Replication lets the role stream WAL (replicas); Rewind grants what
	// pg_rewind needs.
	Replication, Rewind bool
	// ReadOnly makes the role read the pool's tables and nothing more
	// (EnsureReadOnly grants it in the pool's database).
	ReadOnly bool
}

// Logins are the roles the primary must hold, from the job's variable:
// the pool's login, the replication and rewind logins Patroni uses
// between members, the superuser's password, and the web job's read-only
// login when the variable has it. Passwords are sent as SCRAM verifiers,
// never in clear.
func Logins(s Secrets) ([]Login, error) {
	out := []Login{{Role: s.PoolUser, Verifier: s.PoolVerifier}}
	for _, l := range []struct {
		role, password      string
		replication, rewind bool
	}{{ReplicationUser, s.ReplicationPassword, true, false}, {RewindUser, s.RewindPassword, false, true}, {SuperUser, s.SuperuserPassword, false, false}} {
		salt := make([]byte, 16)
		if _, err := rand.Read(salt); err != nil {
			return nil, err
		}
		v, err := secrets.SCRAMVerifier(l.password, salt)
		if err != nil {
			return nil, err
		}
		out = append(out, Login{Role: l.role, Verifier: v, Replication: l.replication, Rewind: l.rewind})
	}
	if s.WebUser != "" && s.WebVerifier != "" {
		out = append(out, Login{Role: s.WebUser, Verifier: s.WebVerifier, ReadOnly: true})
	}
	return out, nil
}

// ErrReplica is returned by EnsureLogins on a member that is not the
// primary: roles replicate from the primary, which keeps them.
var ErrReplica = errors.New("this member is a replica; the primary keeps the logins")

// EnsureLogins makes the primary's roles match the job's variable, and
// creates the pool's database if it is missing: on a new cluster (Patroni's
// post_bootstrap), on a member that became primary (on_role_change), and
// on every start (on_start). So new credentials from poolctl deploy, and a
// data directory from before the replicated database (no replication
// login), are put right without a person.
//
// promoting says Patroni is making this member the primary (its callback
// names the new role): Patroni calls on_role_change as it asks PostgreSQL
// to promote, so the member may still be in recovery for a moment; it is
// waited for, up to ctx's deadline.
func EnsureLogins(ctx context.Context, conn *pgx.Conn, logins []Login, database string, promoting bool) error {
	for {
		var inRecovery bool
		if err := conn.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&inRecovery); err != nil {
			return fmt.Errorf("ask whether this member is the primary: %w", err)
		}
		if !inRecovery {
			break
		}
		if !promoting {
			return ErrReplica
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("Patroni is promoting this member, but it is still in recovery: %w", ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
	for _, l := range logins {
		ident := pgx.Identifier{l.Role}.Sanitize()
		var exists bool
		if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = $1)", l.Role).Scan(&exists); err != nil {
			return fmt.Errorf("look up role %s: %w", l.Role, err)
		}
		if !exists {
			if _, err := conn.Exec(ctx, "CREATE ROLE "+ident+" LOGIN"); err != nil {
				return fmt.Errorf("create role %s: %w", l.Role, err)
			}
		}
		attrs := " LOGIN NOREPLICATION"
		switch {
		case l.Role == SuperUser:
			// The superuser keeps its attributes; only its password
			// follows the variable (a cluster restored from the archive
			// has the old one).
			attrs = ""
		case l.Replication:
			attrs = " LOGIN REPLICATION"
		}
		// A verifier is a literal; ALTER ROLE takes no parameters.
		if _, err := conn.Exec(ctx, "ALTER ROLE "+ident+attrs+" PASSWORD "+quoteLiteral(l.Verifier)); err != nil {
			return fmt.Errorf("set role %s's password: %w", l.Role, err)
		}
		if l.ReadOnly {
			// A second line of defence behind the grants: the role's
			// sessions start read-only.
			if _, err := conn.Exec(ctx, "ALTER ROLE "+ident+" SET default_transaction_read_only = on"); err != nil {
				return fmt.Errorf("make role %s's sessions read-only: %w", l.Role, err)
			}
		}
		if l.Rewind {
			for _, f := range rewindFunctions {
				if _, err := conn.Exec(ctx, "GRANT EXECUTE ON FUNCTION "+f+" TO "+ident); err != nil {
					return fmt.Errorf("grant %s to %s: %w", f, l.Role, err)
				}
			}
		}
	}
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)", database).Scan(&exists); err != nil {
		return fmt.Errorf("look up database %s: %w", database, err)
	}
	if !exists {
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{database}.Sanitize()+" OWNER "+pgx.Identifier{logins[0].Role}.Sanitize()); err != nil {
			return fmt.Errorf("create database %s: %w", database, err)
		}
	}
	return nil
}

// ReadOnlyConnections is how many sessions a read-only login may hold at
// once: the web job's instances' connection pools, with room for an
// instance being replaced.
const ReadOnlyConnections = 16

// readOnlyStatementTimeout ends a read-only login's statement that runs
// longer, so that a page asked for cannot hold the primary's workers.
const readOnlyStatementTimeout = "15s"

// EnsureReadOnly grants the read-only logins what they need in the
// pool's database, and nothing more: connect, and select from every table
// of schema public, those the owner makes later included (ledger.Migrate
// runs as the pool's login). Grants stop a read-only login writing a
// table, but PostgreSQL gives every role more in each database, which
// would let one that turned its session read-write write all the same:
// temporary tables (disk on the database's volume), large objects, and
// advisory locks (the pool's migration and stats roll-up take theirs).
// These are taken from PUBLIC in the pool's database and given back to its
// owner; a read-only login also has a connection limit and a statement
// timeout. conn is the superuser's, connected to the pool's database
// (grants are per database); run it on the primary after EnsureLogins,
// which creates the database on a new cluster.
func EnsureReadOnly(ctx context.Context, conn *pgx.Conn, logins []Login, database, owner string) error {
	db, own := pgx.Identifier{database}.Sanitize(), pgx.Identifier{owner}.Sanitize()
	readOnly := false
	for _, l := range logins {
		readOnly = readOnly || l.ReadOnly
	}
	if !readOnly {
		return nil
	}
	stmts := []string{
		"REVOKE TEMPORARY ON DATABASE " + db + " FROM PUBLIC",
		"GRANT TEMPORARY ON DATABASE " + db + " TO " + own,
	}
	rows, err := conn.Query(ctx, `
		SELECT p.oid::regprocedure::text, p.proname LIKE '%advisory%'
		FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
		WHERE n.nspname = 'pg_catalog' AND (p.proname LIKE 'pg\_advisory\_%' OR p.proname LIKE 'pg\_try\_advisory\_%'
			OR p.proname IN ('lo_creat', 'lo_create', 'lo_from_bytea', 'lo_put', 'lowrite', 'lo_truncate', 'lo_truncate64', 'lo_unlink'))
		ORDER BY 1`)
	if err != nil {
		return fmt.Errorf("list the functions every role may call: %w", err)
	}
	for rows.Next() {
		var fn string
		var advisory bool
		if err := rows.Scan(&fn, &advisory); err != nil {
			rows.Close()
			return err
		}
		stmts = append(stmts, "REVOKE EXECUTE ON FUNCTION "+fn+" FROM PUBLIC")
		if advisory {
			stmts = append(stmts, "GRANT EXECUTE ON FUNCTION "+fn+" TO "+own)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("list the functions every role may call: %w", err)
	}
	for _, l := range logins {
		if !l.ReadOnly {
			continue
		}
		ident := pgx.Identifier{l.Role}.Sanitize()
		stmts = append(stmts,
			"GRANT CONNECT ON DATABASE "+db+" TO "+ident,
			"GRANT USAGE ON SCHEMA public TO "+ident,
			"GRANT SELECT ON ALL TABLES IN SCHEMA public TO "+ident,
			"ALTER DEFAULT PRIVILEGES FOR ROLE "+own+" IN SCHEMA public GRANT SELECT ON TABLES TO "+ident,
			fmt.Sprintf("ALTER ROLE %s CONNECTION LIMIT %d", ident, ReadOnlyConnections),
			"ALTER ROLE "+ident+" SET statement_timeout = "+quoteLiteral(readOnlyStatementTimeout),
		)
	}
	for _, stmt := range stmts {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("read-only logins: %s: %w", stmt, err)
		}
	}
	return nil
}

func quoteLiteral(s string) string {
	out := []byte{'\''}
	for i := 0; i < len(s); i++ {
		if s[i] == '\'' {
			out = append(out, '\'')
		}
		out = append(out, s[i])
	}
	return string(append(out, '\''))
}

// ConnectLocal connects to the member's own PostgreSQL through its Unix
// socket as the superuser (peer authentication: this process runs as the
// postgres user), waiting up to wait for it to accept connections.
func ConnectLocal(ctx context.Context, socketDir string, port int, wait time.Duration) (*pgx.Conn, error) {
	return ConnectLocalTo(ctx, socketDir, port, "postgres", wait)
}

// ConnectLocalTo is ConnectLocal to another database than postgres.
func ConnectLocalTo(ctx context.Context, socketDir string, port int, database string, wait time.Duration) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig("")
	if err != nil {
		return nil, err
	}
	cfg.Host, cfg.Port, cfg.User, cfg.Database = socketDir, uint16(port), SuperUser, database
	cfg.Fallbacks = nil
	cfg.ConnectTimeout = 5 * time.Second
	deadline := time.Now().Add(wait)
	for {
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err == nil {
			return conn, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("connect to this member's PostgreSQL (%s/.s.PGSQL.%s): %w", socketDir, strconv.Itoa(port), err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// PrimaryRole says whether a role Patroni names in a callback is the
// primary's ("master" in Patroni 3.0, "primary" later, "promoted" for a
// standby cluster's leader).
func PrimaryRole(role string) bool {
	return role == "master" || role == "primary" || role == "promoted"
}
