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
