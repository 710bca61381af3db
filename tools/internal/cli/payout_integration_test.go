package cli_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	nomadapi "github.com/hashicorp/nomad/api"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/chain"
	"github.com/scryptpool/poolmicrocloud/tools/internal/cluster"
	"github.com/scryptpool/poolmicrocloud/tools/internal/config"
	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
	"github.com/scryptpool/poolmicrocloud/tools/internal/failover"
	"github.com/scryptpool/poolmicrocloud/tools/internal/jobspec"
	"github.com/scryptpool/poolmicrocloud/tools/internal/payout"
	"github.com/scryptpool/poolmicrocloud/tools/internal/secrets"
)

// devDatabase is a connection string for the dev cluster's PostgreSQL.
func devDatabase(t *testing.T, c *cluster.Cluster) string {
	nomad, err := c.NomadClient()
	require.NoError(t, err)
	pool := &config.Pool{Name: "devpool"}
	dbAddr := serviceAddr(t, c, jobspec.DatabaseService(pool))
	v, _, err := nomad.Variables().Read(jobspec.DatabaseSecretsPath(pool), nil)
	require.NoError(t, err)
	host, port, _ := net.SplitHostPort(dbAddr)
	return fmt.Sprintf("postgres://%s:%s@%s:%s/pool?sslmode=disable", v.Items[secrets.ItemDatabaseUser], v.Items[secrets.ItemDatabasePassword], host, port)
}

// payOutOnDevCluster matures the blocks the miner found through the pool
// (100 more blocks), forces the payout job twice at once, and checks on
// chain that the miner's address holds exactly its PPLNS share of every
// credited block minus the pool's 1% fee, as the ledger says, once.
func payOutOnDevCluster(t *testing.T, c *cluster.Cluster) {
	ctx := context.Background()
	nomad, err := c.NomadClient()
	require.NoError(t, err)
	wallets := walletAllocs(t, nomad)
	var wallet string
	for addr := range wallets {
		wallet = addr
	}
	client, err := failover.WalletClient(ctx, nomad, jobspec.WalletSecretsPath("ltc"), wallet)
	require.NoError(t, err)
	// Mature everything the pool found: 101 blocks paying an address of
	// the wallet's that is not the pool's.
	var burn string
	require.NoError(t, client.Call(ctx, "getnewaddress", nil, &burn))
	_, err = client.GenerateToAddress(ctx, 101, burn)
	require.NoError(t, err)

	// Two forced runs at once, as an operator's double click would: the
	// second starts while the first is inside the lock, and stops there.
	rec := forceOverlappingPayouts(t, c)
	t.Logf("last payout run: %s: %s", rec.Outcome, rec.Message)

	// Confirm the payout on a wallet whose mempool holds it (the other
	// may not have had it relayed yet), then read what the address holds
	// on chain.
	conn, err := pgx.Connect(ctx, devDatabase(t, c))
	require.NoError(t, err)
	defer conn.Close(ctx)
	var txid string
	require.NoError(t, conn.QueryRow(ctx, `SELECT txid FROM payouts WHERE status = 'sent'`).Scan(&txid))
	waitUntil(t, "a wallet holds the payout in its mempool", func() bool {
		for addr := range wallets {
			w, err := failover.WalletClient(ctx, nomad, jobspec.WalletSecretsPath("ltc"), addr)
			if err == nil && w.Call(ctx, "getmempoolentry", []any{txid}, nil) == nil {
				client = w
				return true
			}
		}
		return false
	})
	_, err = client.GenerateToAddress(ctx, 1, burn)
	require.NoError(t, err)
	var scan struct {
		Success     bool        `json:"success"`
		TotalAmount json.Number `json:"total_amount"`
	}
	require.NoError(t, client.Call(ctx, "scantxoutset", []any{"start", []string{"addr(" + minerAddress + ")"}}, &scan))
	require.True(t, scan.Success)
	onChain, err := payout.Units(scan.TotalAmount, 100_000_000)
	require.NoError(t, err)

	var credited, paid, owed, expected, blocks, sent int64
	require.NoError(t, conn.QueryRow(ctx, `SELECT coalesce(sum(amount), 0) FROM credits WHERE address = $1`, minerAddress).Scan(&credited))
	require.NoError(t, conn.QueryRow(ctx, `SELECT paid, owed FROM balances WHERE address = $1`, minerAddress).Scan(&paid, &owed))
	// The only miner: each credited block's whole reward minus the fee
	// (rounded down), nothing carried.
	require.NoError(t, conn.QueryRow(ctx, `
		SELECT coalesce(sum(reward - floor(reward * 0.01)::bigint), 0), count(*) FROM blocks
		WHERE coin = 'ltc' AND status = 'confirmed'`).Scan(&expected, &blocks))
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM payouts WHERE status = 'sent'`).Scan(&sent))
	assert.GreaterOrEqual(t, blocks, int64(6), "the blocks mined through the pool were credited")
	assert.Equal(t, expected, credited, "credited its PPLNS share (all of it, one miner) minus the 1% fee")
	assert.Equal(t, credited, paid, "paid everything credited")
	assert.Zero(t, owed)
	assert.Equal(t, paid, onChain, "the address holds on chain exactly what the ledger paid, once")
	assert.Equal(t, int64(1), sent, "one payout transaction, however many runs were forced")
	t.Logf("%d blocks credited, %s paid to %s in %d transaction", blocks, payout.Coins(paid, 100_000_000), minerAddress, sent)
}

// forceRun forces a periodic job once (`nomad job periodic force`), waits
// until the launch has finished, and returns the run record the job left
// in Consul KV.
func forceRun(t *testing.T, c *cluster.Cluster, job, recordKey string) payout.Record {
	t.Helper()
	nomad, err := c.NomadClient()
	require.NoError(t, err)
	consul, err := c.ConsulClient()
	require.NoError(t, err)
	eval, _, err := nomad.Jobs().PeriodicForce(job, nil)
	require.NoError(t, err)
	waitUntil(t, "the forced "+job+" run finished", func() bool {
		ev, _, err := nomad.Evaluations().Info(eval, nil)
		if err != nil || ev.JobID == "" {
			return false
		}
		launch, _, err := nomad.Jobs().Info(ev.JobID, nil)
		return err == nil && *launch.Status == "dead"
	})
	pair, _, err := consul.KV().Get(recordKey, nil)
	require.NoError(t, err)
	require.NotNil(t, pair, "the %s run recorded its outcome", job)
	var rec payout.Record
	require.NoError(t, json.Unmarshal(pair.Value, &rec))
	return rec
}

// forceOverlappingPayouts forces the payout job twice so that two runs
// overlap for certain: the test holds the payouts table locked, forces a
// first run and waits until a run holds the job's Consul lock (none can
// leave it without reading that table), then forces a second run, which
// must find the lock taken and say so. Released, one run pays. Every run
// is a real launch, a periodic child with an allocation of its own, whose
// output is read back; a scheduled run (the dev payout cron is every five
// minutes) may be among them, so the claim is checked over every launch
// since the test began: exactly one sent the payout, every other one was
// turned away by the Consul lock. Returns the record the last run left.
func forceOverlappingPayouts(t *testing.T, c *cluster.Cluster) payout.Record {
	t.Helper()
	ctx := context.Background()
	nomad, err := c.NomadClient()
	require.NoError(t, err)
	consul, err := c.ConsulClient()
	require.NoError(t, err)
	const job = "ltc-payout"
	began := time.Now().Unix()

	hold, err := pgx.Connect(ctx, devDatabase(t, c))
	require.NoError(t, err)
	defer hold.Close(ctx)
	tx, err := hold.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	_, err = tx.Exec(ctx, `LOCK TABLE payouts IN ACCESS EXCLUSIVE MODE`)
	require.NoError(t, err)

	// launchedAt is the second Nomad named a periodic child after.
	launchedAt := func(child string) int64 {
		sec, err := strconv.ParseInt(strings.TrimPrefix(child, job+"/periodic-"), 10, 64)
		require.NoError(t, err, "a periodic child of %s, not %q", job, child)
		return sec
	}
	force := func() string {
		eval, _, err := nomad.Jobs().PeriodicForce(job, nil)
		require.NoError(t, err)
		ev, _, err := nomad.Evaluations().Info(eval, nil)
		require.NoError(t, err)
		launchedAt(ev.JobID)
		return ev.JobID
	}
	first := force()
	lockKey := contract.LockKey("devpool", "ltc", "payout")
	var index uint64
	waitUntil(t, "a payout run holds the job's Consul lock", func() bool {
		pair, meta, err := consul.KV().Get(lockKey, &consulapi.QueryOptions{WaitIndex: index, WaitTime: 10 * time.Second})
		if err != nil {
			return false
		}
		index = meta.LastIndex
		return pair != nil && pair.Session != ""
	})
	// A second force in the same second as the first would only register
	// the same child again.
	waitUntil(t, "a new second to launch the second run in", func() bool { return time.Now().Unix() > launchedAt(first) })
	second := force()
	require.NotEqual(t, first, second, "two launches")

	dead := func(child string) bool {
		launch, _, err := nomad.Jobs().Info(child, nil)
		return err == nil && *launch.Status == "dead"
	}
	waitUntil(t, "the second payout run finished", func() bool { return dead(second) })
	assert.Regexp(t, `ltc payout: skipped: .*it holds the job's Consul lock`, runOutput(t, nomad, second), "the second run found the Consul lock taken")

	stubs, _, err := nomad.Jobs().PrefixList(job + "/periodic-")
	require.NoError(t, err)
	var launches []string
	for _, stub := range stubs {
		if stub.ParentID == job && launchedAt(stub.ID) >= began {
			launches = append(launches, stub.ID)
		}
	}
	require.Contains(t, launches, first)
	require.Contains(t, launches, second)

	require.NoError(t, tx.Rollback(ctx))
	paid := 0
	for _, child := range launches {
		waitUntil(t, child+" finished", func() bool { return dead(child) })
		out := runOutput(t, nomad, child)
		t.Logf("%s: %s", child, strings.TrimSpace(out))
		if strings.Contains(out, "ltc payout: ok:") && strings.Contains(out, " sent: ") {
			paid++
			continue
		}
		assert.Regexp(t, `ltc payout: skipped: .*it holds the job's Consul lock`, out, "%s neither paid nor found the lock taken", child)
	}
	assert.Equal(t, 1, paid, "exactly one of the overlapping runs sent the payout")

	pair, _, err := consul.KV().Get(contract.RecordKey("devpool", "ltc", "payout"), nil)
	require.NoError(t, err)
	require.NotNil(t, pair, "the payout run recorded its outcome")
	var rec payout.Record
	require.NoError(t, json.Unmarshal(pair.Value, &rec))
	return rec
}

// runOutput is what the one allocation of a periodic launch wrote to its
// task's stdout.
func runOutput(t *testing.T, nomad *nomadapi.Client, child string) string {
	t.Helper()
	allocs, _, err := nomad.Jobs().Allocations(child, true, nil)
	require.NoError(t, err)
	require.Len(t, allocs, 1, "one allocation for %s", child)
	task := strings.TrimPrefix(child[:strings.Index(child, "/")], "ltc-")
	alloc, _, err := nomad.Allocations().Info(allocs[0].ID, nil)
	require.NoError(t, err)
	r, err := nomad.AllocFS().Cat(alloc, "alloc/logs/"+task+".stdout.0", nil)
	require.NoError(t, err)
	defer r.Close()
	out, err := io.ReadAll(r)
	require.NoError(t, err)
	return string(out)
}

// housekeepOnDevCluster forces the stats and backup jobs: every share the
// miner sent is counted once in the hourly statistics, the database dump
// lands on the backup volume, and each wallet instance writes its copy
// into its own chain volume, which lands on the backup volume too.
func housekeepOnDevCluster(t *testing.T, c *cluster.Cluster) {
	ctx := context.Background()
	rec := forceRun(t, c, "devpool-stats", contract.RecordKey("devpool", "", "stats"))
	require.Equal(t, "ok", rec.Outcome, rec.Message)
	t.Logf("stats: %s %v", rec.Message, rec.Lines)
	conn, err := pgx.Connect(ctx, devDatabase(t, c))
	require.NoError(t, err)
	defer conn.Close(ctx)
	var shares, counted int64
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM shares WHERE coin = 'ltc'`).Scan(&shares))
	require.NoError(t, conn.QueryRow(ctx, `SELECT coalesce(sum(shares), 0) FROM stats_hourly WHERE coin = 'ltc'`).Scan(&counted))
	assert.Positive(t, shares)
	assert.Equal(t, shares, counted, "every share counted once in the hourly statistics")

	rec = forceRun(t, c, "devpool-backup", contract.RecordKey("devpool", "", "backup"))
	require.Equal(t, "ok", rec.Outcome, rec.Message)
	t.Logf("backup: %s %v", rec.Message, rec.Lines)
	volumes := c.Clients()[0].Volumes
	// The forced run's dump, named in its record. (The hourly schedule
	// may have made another if the test crossed the hour.)
	var dump string
	dumpLine := regexp.MustCompile(`^database: /backup/database/(pool-\S+\.dump) \(\d+ bytes\)$`)
	for _, l := range rec.Lines {
		if m := dumpLine.FindStringSubmatch(l); m != nil {
			dump = m[1]
		}
	}
	require.NotEmpty(t, dump, "the backup names its dump: %v", rec.Lines)
	info, err := os.Stat(filepath.Join(volumes["pool-data"], "database", dump))
	require.NoError(t, err, "the database dump on the backup volume")
	assert.Positive(t, info.Size())
	copies, err := filepath.Glob(filepath.Join(volumes["ltc-chain"], "*", "backups", "wallet-day*.dat"))
	require.NoError(t, err)
	assert.Len(t, copies, 2, "a copy from each wallet instance, on its own volume")
	// And each fetched through its probe onto the backup volume, in the
	// same slot, byte for byte, named in the run's record.
	for _, daemons := range copies {
		instance, slot := filepath.Base(filepath.Dir(filepath.Dir(daemons))), filepath.Base(daemons)
		kept := filepath.Join(volumes["pool-data"], "wallets", "ltc", instance, slot)
		want, err := os.ReadFile(daemons)
		require.NoError(t, err)
		got, err := os.ReadFile(kept)
		require.NoError(t, err, "instance %s's copy on the backup volume", instance)
		assert.Equal(t, want, got, "instance %s's copy on the backup volume is the daemon's", instance)
		assert.Contains(t, strings.Join(rec.Lines, "\n"), "ltc wallet "+instance+": /backup/wallets/ltc/"+instance+"/"+slot)
	}
}

// checkWalletLogins logs in to a wallet of the dev pool with the logins
// deploy copied into the stratum, blocks and payout jobs' variables: the
// stratum server's may take work but not send coins, the block tracker's
// may not either, the payout's may read balances.
func checkWalletLogins(t *testing.T, c *cluster.Cluster) {
	ctx := context.Background()
	nomad, err := c.NomadClient()
	require.NoError(t, err)
	var wallet string
	for addr := range walletAllocs(t, nomad) {
		wallet = addr
	}
	login := func(path string) *chain.Client {
		v, _, err := nomad.Variables().Read(path, nil)
		require.NoError(t, err)
		return chain.NewClient(wallet, v.Items[secrets.ItemUser], v.Items[secrets.ItemPassword])
	}
	refused := func(err error) bool {
		var rpcErr *chain.Error
		return errors.As(err, &rpcErr) && rpcErr.Kind == chain.Auth && rpcErr.Code == http.StatusForbidden
	}
	stratum := login(jobspec.StratumSecretsPath("ltc"))
	_, err = stratum.BlockCount(ctx)
	require.NoError(t, err, "the stratum server's login reads the tip")
	err = stratum.Call(ctx, "sendmany", []any{"", map[string]any{}}, nil)
	require.True(t, refused(err), "the stratum server's login may not send coins: %v", err)
	err = stratum.Call(ctx, "backupwallet", []any{"/tmp/x"}, nil)
	require.True(t, refused(err), "nor back the wallet up: %v", err)

	blocks := login(jobspec.LedgerSecretsPath("ltc", jobspec.KindBlocks))
	err = blocks.Call(ctx, "sendmany", []any{"", map[string]any{}}, nil)
	require.True(t, refused(err), "the block tracker's login may not send coins: %v", err)

	payouts := login(jobspec.LedgerSecretsPath("ltc", jobspec.KindPayout))
	require.NoError(t, payouts.Call(ctx, "getbalances", nil, nil), "the payout's login reads balances")
	err = payouts.Call(ctx, "send", []any{map[string]any{}}, nil)
	require.False(t, refused(err), "the payout's login may build payouts (an empty one is refused by the wallet, not the whitelist): %v", err)
	err = payouts.Call(ctx, "sendrawtransaction", []any{"00"}, nil)
	require.False(t, refused(err), "and broadcast them (a malformed one is refused by the daemon, not the whitelist): %v", err)
	err = payouts.Call(ctx, "sendmany", []any{"", map[string]any{}}, nil)
	require.True(t, refused(err), "but not pay with sendmany, whose transaction it could not store first: %v", err)
}
