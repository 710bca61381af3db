package ledger

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/testenv"
)

// startDatabase starts a PostgreSQL for one test and returns it with a
// pool connected as the pool role. It does not migrate.
func startDatabase(t *testing.T) (*testenv.Postgres, *pgxpool.Pool) {
	t.Helper()
	testenv.Integration(t)
	pg := testenv.StartPostgres(t)
	pool, err := pgxpool.New(context.Background(), pg.DSN)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pg, pool
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestMigrateConcurrentlyAndAgain(t *testing.T) {
	testenv.Integration(t)
	t.Parallel()
	_, pool := startDatabase(t)
	ctx := testContext(t)

	// Stratum instances starting together all migrate a fresh database.
	errs := make(chan error, 8)
	for range cap(errs) {
		go func() { errs <- Migrate(ctx, pool) }()
	}
	for range cap(errs) {
		require.NoError(t, <-errs)
	}
	require.NoError(t, Migrate(ctx, pool), "again on a migrated database")

	for _, table := range []string{"shares", "blocks", "workers", "shares_coin_id", "shares_coin_submitted_at"} {
		var exists bool
		require.NoError(t, pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, table).Scan(&exists))
		assert.True(t, exists, table)
	}
	var status string
	_, err := pool.Exec(ctx, `INSERT INTO blocks (coin, height, hash, address, reward, found_at) VALUES ('ltc', 1, 'h', 'a', 1, now())`)
	require.NoError(t, err)
	require.NoError(t, pool.QueryRow(ctx, `SELECT status FROM blocks WHERE hash = 'h'`).Scan(&status))
	assert.Equal(t, "pending", status)
}

// A process starting while a payout credits a block: Migrate on a
// database that has the schema takes no table lock the payout holds
// against it (it once took ALTER TABLE's, and the two deadlocked).
func TestMigrateLeavesAMigratedDatabaseAlone(t *testing.T) {
	testenv.Integration(t)
	t.Parallel()
	_, pool := startDatabase(t)
	ctx := testContext(t)
	require.NoError(t, Migrate(ctx, pool))
	_, err := pool.Exec(ctx, `INSERT INTO blocks (coin, height, hash, address, reward, found_at) VALUES ('ltc', 1, 'h', 'a', 1, now())`)
	require.NoError(t, err)

	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	_, err = tx.Exec(ctx, `SELECT id FROM blocks WHERE hash = 'h' FOR UPDATE`)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, `UPDATE blocks SET status = 'confirmed' WHERE hash = 'h'`)
	require.NoError(t, err)

	migrated := make(chan error, 1)
	go func() { migrated <- Migrate(ctx, pool) }()
	for {
		select {
		case err := <-migrated:
			require.NoError(t, err)
			return
		case <-time.After(50 * time.Millisecond):
		}
		var waiting int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM pg_locks WHERE NOT granted`).Scan(&waiting))
		require.Zero(t, waiting, "Migrate waits for a lock the open transaction holds")
	}
}

// A database of an older schema (another fingerprint) is migrated.
func TestMigrateAnOlderSchema(t *testing.T) {
	testenv.Integration(t)
	t.Parallel()
	_, pool := startDatabase(t)
	ctx := testContext(t)
	require.NoError(t, Migrate(ctx, pool))
	_, err := pool.Exec(ctx, `ALTER TABLE blocks DROP COLUMN note`)
	require.NoError(t, err)
	require.NoError(t, Migrate(ctx, pool), "same fingerprint: nothing to do")
	var has bool
	hasNote := `SELECT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_name = 'blocks' AND column_name = 'note')`
	require.NoError(t, pool.QueryRow(ctx, hasNote).Scan(&has))
	require.False(t, has)

	_, err = pool.Exec(ctx, `UPDATE ledger_schema SET fingerprint = 'older'`)
	require.NoError(t, err)
	require.NoError(t, Migrate(ctx, pool))
	require.NoError(t, pool.QueryRow(ctx, hasNote).Scan(&has))
	assert.True(t, has, "the older schema gained the column")
	var fingerprint string
	require.NoError(t, pool.QueryRow(ctx, `SELECT fingerprint FROM ledger_schema`).Scan(&fingerprint))
	assert.Equal(t, schemaFingerprint, fingerprint)
}
