package ledger

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// migrateLockKey serialises Migrate across processes: every stratum
// instance migrates at start, and concurrent CREATE ... IF NOT EXISTS of
// the same table can still fail on the catalog's unique indexes.
const migrateLockKey int64 = 0x4c45_4447_4552 // "LEDGER"

// schema is idempotent: each statement may run on a database that
// already has it.
//
// shares.id is the ledger order. A payout's PPLNS window for a block is
// read backwards from blocks.share_id on the (coin, id) index:
//
//	SELECT address, difficulty FROM shares
//	WHERE coin = $1 AND id <= $2 ORDER BY id DESC
//
// summing difficulty until the window (N x network difficulty) is full.
var schema = []string{
	`CREATE TABLE IF NOT EXISTS shares (
		id bigserial PRIMARY KEY,
		share_key text NOT NULL UNIQUE,
		coin text NOT NULL,
		address text NOT NULL,
		worker text NOT NULL DEFAULT '',
		difficulty double precision NOT NULL,
		network_difficulty double precision NOT NULL,
		height bigint NOT NULL,
		instance text NOT NULL,
		submitted_at timestamptz NOT NULL
	)`,
	`CREATE INDEX IF NOT EXISTS shares_coin_id ON shares (coin, id)`,
	`CREATE INDEX IF NOT EXISTS shares_coin_submitted_at ON shares (coin, submitted_at)`,
	`CREATE TABLE IF NOT EXISTS blocks (
		id bigserial PRIMARY KEY,
		coin text NOT NULL,
		height bigint NOT NULL,
		hash text NOT NULL UNIQUE,
		address text NOT NULL,
		worker text NOT NULL DEFAULT '',
		reward bigint NOT NULL,
		status text NOT NULL DEFAULT 'pending'
			CHECK (status IN ('pending', 'confirmed', 'orphaned')),
		share_id bigint,
		found_at timestamptz NOT NULL,
		wallet text NOT NULL DEFAULT ''
	)`,
	`CREATE INDEX IF NOT EXISTS blocks_coin_status ON blocks (coin, status, height)`,
	`CREATE TABLE IF NOT EXISTS workers (
		coin text NOT NULL,
		address text NOT NULL,
		worker text NOT NULL,
		first_seen timestamptz NOT NULL,
		last_seen timestamptz NOT NULL,
		PRIMARY KEY (coin, address, worker)
	)`,
	// What the pool owes: credited once per confirmed block (credits),
	// paid once per payout (payout_items of a sent payout). balances is
	// their running difference, moved in the same transactions.
	`ALTER TABLE blocks ADD COLUMN IF NOT EXISTS credited_at timestamptz`,
	`ALTER TABLE blocks ADD COLUMN IF NOT EXISTS confirmations bigint NOT NULL DEFAULT 0`,
	`ALTER TABLE blocks ADD COLUMN IF NOT EXISTS note text NOT NULL DEFAULT ''`,
	`CREATE TABLE IF NOT EXISTS credits (
		block_id bigint NOT NULL REFERENCES blocks (id),
		coin text NOT NULL,
		address text NOT NULL,
		amount bigint NOT NULL CHECK (amount >= 0),
		PRIMARY KEY (block_id, address)
	)`,
	`CREATE TABLE IF NOT EXISTS balances (
		coin text NOT NULL,
		address text NOT NULL,
		owed bigint NOT NULL DEFAULT 0 CHECK (owed >= 0),
		paid bigint NOT NULL DEFAULT 0,
		held_reason text NOT NULL DEFAULT '',
		updated_at timestamptz NOT NULL DEFAULT now(),
		PRIMARY KEY (coin, address)
	)`,
	// The remainder of rounding each block's split to whole units,
	// carried into the next block's.
	`CREATE TABLE IF NOT EXISTS carry (
		coin text PRIMARY KEY,
		units bigint NOT NULL DEFAULT 0
	)`,
	// A payout is written as an intent before the wallet is asked to
	// send; the wallet transaction carries its id as comment.
	`CREATE TABLE IF NOT EXISTS payouts (
		id text PRIMARY KEY,
		coin text NOT NULL,
		status text NOT NULL DEFAULT 'intent'
			CHECK (status IN ('intent', 'sent', 'cancelled')),
		total bigint NOT NULL,
		txid text,
		wallet text NOT NULL DEFAULT '',
		note text NOT NULL DEFAULT '',
		created_at timestamptz NOT NULL DEFAULT now(),
		settled_at timestamptz
	)`,
	// At most one open intent per coin: a second payout run, however it
	// got past the locks, cannot start another batch while one is open;
	// nor, once it is settled, pay again a batch it read before (the
	// intent checks, inside its transaction, that every item is still
	// owed).
	`CREATE UNIQUE INDEX IF NOT EXISTS payouts_one_open_intent ON payouts (coin) WHERE status = 'intent'`,
	// The signed transaction of a payout, stored (with its txid) before
	// any wallet is given it: whichever wallet instance a later run
	// reaches, it settles the intent by broadcasting these same bytes,
	// which cannot pay twice. '' while not built yet; NULL on intents
	// of older poolctl versions, which paid with sendmany and are
	// settled by the comment the sending wallet keeps.
	`ALTER TABLE payouts ADD COLUMN IF NOT EXISTS tx_hex text`,
	`CREATE TABLE IF NOT EXISTS payout_items (
		payout_id text NOT NULL REFERENCES payouts (id),
		address text NOT NULL,
		amount bigint NOT NULL CHECK (amount > 0),
		PRIMARY KEY (payout_id, address)
	)`,
	`CREATE TABLE IF NOT EXISTS stats_hourly (
		coin text NOT NULL,
		address text NOT NULL,
		hour timestamptz NOT NULL,
		shares bigint NOT NULL,
		difficulty double precision NOT NULL,
		PRIMARY KEY (coin, address, hour)
	)`,
	// Hours before counted_until are final in stats_hourly: the roll-up
	// counts them no more, and their shares may be pruned.
	`CREATE TABLE IF NOT EXISTS stats_rollup (
		coin text PRIMARY KEY,
		counted_until timestamptz NOT NULL
	)`,
}

// schemaFingerprint names this schema: the statements' hash. A
// database that holds it (in ledger_schema) has every table and index,
// and Migrate leaves it alone.
var schemaFingerprint = func() string {
	h := sha256.New()
	for _, stmt := range schema {
		h.Write([]byte(stmt))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}()

// Migrate creates the ledger's tables and indexes if they are missing. It
// is safe to run at every start and from several processes at once.
//
// A database that already has this schema is only read: the statements
// take table locks even when there is nothing to do (ALTER TABLE takes
// the strongest, CREATE INDEX a share lock), held to the end of the
// transaction, and a payout crediting a block at that moment deadlocked
// with a process that had just started.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrateLockKey); err != nil {
			return fmt.Errorf("take the migration lock: %w", err)
		}
		var recorded bool
		if err := tx.QueryRow(ctx, `SELECT to_regclass('ledger_schema') IS NOT NULL`).Scan(&recorded); err != nil {
			return fmt.Errorf("look for ledger_schema: %w", err)
		}
		if recorded {
			var have string
			if err := tx.QueryRow(ctx, `SELECT coalesce(max(fingerprint), '') FROM ledger_schema`).Scan(&have); err != nil {
				return fmt.Errorf("read the schema's fingerprint: %w", err)
			}
			if have == schemaFingerprint {
				return nil
			}
		}
		for _, stmt := range schema {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				line, _, _ := strings.Cut(stmt, "\n")
				return fmt.Errorf("%s: %w", line, err)
			}
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS ledger_schema (
			one boolean PRIMARY KEY DEFAULT true CHECK (one),
			fingerprint text NOT NULL,
			migrated_at timestamptz NOT NULL DEFAULT now())`); err != nil {
			return fmt.Errorf("ledger_schema: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO ledger_schema (fingerprint) VALUES ($1)
			ON CONFLICT (one) DO UPDATE SET fingerprint = excluded.fingerprint, migrated_at = now()`, schemaFingerprint); err != nil {
			return fmt.Errorf("record the schema's fingerprint: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("migrate ledger schema: %w", err)
	}
	return nil
}
