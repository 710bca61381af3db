package provision

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	nomadapi "github.com/hashicorp/nomad/api"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/chain"
	"github.com/scryptpool/poolmicrocloud/tools/internal/config"
	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
	"github.com/scryptpool/poolmicrocloud/tools/internal/dbarchive"
	"github.com/scryptpool/poolmicrocloud/tools/internal/jobspec"
	"github.com/scryptpool/poolmicrocloud/tools/internal/ledger"
	"github.com/scryptpool/poolmicrocloud/tools/internal/miner"
	"github.com/scryptpool/poolmicrocloud/tools/internal/payout"
	"github.com/scryptpool/poolmicrocloud/tools/internal/poolapi"
	"github.com/scryptpool/poolmicrocloud/tools/internal/secrets"
	"github.com/scryptpool/poolmicrocloud/tools/internal/testenv"
	"github.com/scryptpool/poolmicrocloud/tools/internal/validate"
)

// provMinerAddress is the miner's payout address (regtest).
const provMinerAddress = "mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn"

// testPool writes the regtest variant of the production example this
// cluster runs: the production pool's name, coin, volumes and jobs (so the
// policies written for the production example are the ones that apply),
// regtest, two wallets and one stratum server.
func testPool(t *testing.T, c *testCluster, lan string) string {
	t.Helper()
	src, err := os.ReadFile(testenv.Example(t, "dev"))
	require.NoError(t, err)
	out := string(src)
	for _, r := range [][2]string{
		{`pool "devpool"`, `pool "scryptpool"`},
		{`datacenter = "dc1"`, `datacenter = "home"`},
		{`poolctl = "/opt/poolctl/bin/poolctl"`, `poolctl = "/usr/local/bin/poolctl"`},
		{"servers        = 1", "servers        = 3"},
		{"nodes          = 1", "nodes          = " + fmt.Sprint(len(c.nodes))},
		{`lan                    = ["127.0.0.0/8"]`, fmt.Sprintf(`lan                    = [%q]`, lan)},
		// Two wallets, on the two nodes with chain data, peered through
		// Consul: a regtest wallet without a peer serves no work (-9).
		{"host_volume \"ltc-chain\" {\n    nodes = 1", "host_volume \"ltc-chain\" {\n    nodes = 2"},
		// Two stratum servers, on two nodes, as in production.
		{"# A static port: one instance per node.\n    instances = 1", "# A static port: one instance per node.\n    instances = 2"},
		// Two database members, on two nodes, as in production: Patroni's
		// leader lock and replication under ACLs and TLS.
		{"host_volume \"pool-data\" {\n    nodes = 1", "host_volume \"pool-data\" {\n    nodes = 2"},
		{"database {\n", "database {\n  instances = 2\n"},
		// Two web servers, as in production: each reads the definition
		// and the ledger with the web job's own logins.
		{"web {\n  port      = 8080\n  instances = 1\n", "web {\n  port      = 8080\n  instances = 2\n"},
	} {
		require.Contains(t, out, r[0])
		out = strings.Replace(out, r[0], r[1], 1)
	}
	path := filepath.Join(c.dir, "pool.hcl")
	require.NoError(t, os.WriteFile(path, []byte(out), 0o644))
	return path
}

// deployEnv is what an operator exports to run poolctl against the
// cluster: the first server's APIs over TLS, and the deploy tokens from
// secrets/deploy/ only.
func (c *testCluster) deployEnv(t *testing.T) []string {
	t.Helper()
	read := func(name string) string {
		data, err := os.ReadFile(filepath.Join(c.secrets, "deploy", name))
		require.NoError(t, err, "the deploy tokens are in secrets/deploy/")
		return strings.TrimSpace(string(data))
	}
	first := c.nodes[0]
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + c.dir}
	return append(env,
		"NOMAD_ADDR=https://"+first.addr+":4646", "NOMAD_CACERT="+c.caFile(), "NOMAD_TOKEN="+read("nomad-poolctl-deploy.token"),
		"CONSUL_HTTP_ADDR=https://"+first.addr+":8501", "CONSUL_CACERT="+c.caFile(), "CONSUL_HTTP_TOKEN="+read("consul-poolctl-deploy.token"),
	)
}

// poolctl runs the test's poolctl binary with env, as the operator would.
func (c *testCluster) poolctlRun(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(c.poolctl, args...)
	cmd.Env = env
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		return exitErr.ExitCode(), stdout.String(), stderr.String()
	}
	require.NoError(t, err)
	return 0, stdout.String(), stderr.String()
}

// healthyAddr is the address of a passing instance of service.
func healthyAddr(t *testing.T, consul *consulapi.Client, service string) string {
	t.Helper()
	var addr string
	waitFor(t, 3*time.Minute, "a passing "+service, func() bool {
		entries, _, err := consul.Health().Service(service, "", true, nil)
		if err != nil || len(entries) == 0 {
			return false
		}
		addr = net.JoinHostPort(entries[0].Service.Address, fmt.Sprint(entries[0].Service.Port))
		return true
	})
	return addr
}

func waitFor(t *testing.T, limit time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for !ok() {
		if time.Now().After(deadline) {
			require.FailNow(t, "timed out waiting for "+what)
		}
		<-tick.C
	}
}

// checkPoolRuns is the pool on the provisioned cluster, end to end, with
// nothing but what an operator has: the deploy tokens and the CA. Deploy
// makes every job healthy; a miner mines through the stratum server's node
// address and blocks are accepted; the blocks mature; a forced payout pays
// the miner on chain what the ledger owes it; status shows the pool; a job's
// wallet login cannot send coins.
func checkPoolRuns(t *testing.T, c *testCluster, lan string) {
	ctx := context.Background()
	env := c.deployEnv(t)
	pool := testPool(t, c, lan)
	first := c.nodes[0]
	nomad := c.nomadClient(t, first, tokenFrom(t, env, "NOMAD_TOKEN"))
	consul := c.consulClient(t, first, tokenFrom(t, env, "CONSUL_HTTP_TOKEN"))

	// Each step needs the one before: after a failure the rest would only
	// time out.
	if !t.Run("deploy with the deploy tokens makes every job healthy", func(t *testing.T) {
		start := time.Now()
		code, stdout, stderr := c.poolctlRun(t, env, "deploy", "--timeout", "15m", pool)
		require.Equal(t, 0, code, "poolctl deploy:\n%s\n%s", stdout, stderr)
		t.Logf("deployed in %s", time.Since(start).Round(time.Second))
	}) {
		return
	}

	t.Run("the catch-up reads the periodic jobs with its task's own identity", func(t *testing.T) {
		// Through this node's Nomad API, over TLS, with the workload
		// identity's token and the policy bound to the task: a refusal
		// would be logged instead ("permission denied").
		want := `catchup: following 4 periodic job(s) of pool "scryptpool": ltc-blocks, ltc-payout, scryptpool-backup, scryptpool-stats`
		var logs string
		waitFor(t, 2*time.Minute, "the catch-up following the pool's periodic jobs", func() bool {
			logs = taskLogs(t, nomad, "scryptpool-health", contract.CatchupTask)
			return strings.Contains(logs, want)
		})
		assert.NotContains(t, logs, "retrying", logs)
	})

	var accepted atomic.Int64
	if !t.Run("a miner mines through each stratum server's node address", func(t *testing.T) {
		defer func() {
			if t.Failed() {
				logTasks(t, nomad, "ltc-stratum", "stratum")
				logTasks(t, nomad, "ltc-wallet", "probe")
				logTasks(t, nomad, "ltc-wallet", "daemon")
			}
		}()
		healthyAddr(t, consul, contract.StratumService("ltc"))
		var servers []string
		waitFor(t, 5*time.Minute, "both stratum servers passing", func() bool {
			entries, _, err := consul.Health().Service(contract.StratumService("ltc"), "", true, nil)
			if err != nil || len(entries) != 2 {
				return false
			}
			servers = nil
			for _, e := range entries {
				servers = append(servers, net.JoinHostPort(e.Service.Address, fmt.Sprint(e.Service.Port)))
			}
			return true
		})
		require.NotEqual(t, servers[0], servers[1], "two servers, two node addresses")
		db := c.database(t, nomad, consul)
		blocks := func() int {
			var n int
			require.NoError(t, db.QueryRow(ctx, `SELECT count(*) FROM blocks`).Scan(&n))
			return n
		}
		// Through each server in turn. Both pay the one pool address they
		// agreed on through Consul: the payout below credits every block
		// through the wallet that holds its key, and fails on a coinbase
		// that wallet does not know.
		for i, addr := range servers {
			host, _, _ := net.SplitHostPort(addr)
			require.NotEqual(t, "127.0.0.1", host, "the stratum server listens on its node's address")
			var here atomic.Int64
			m := miner.New(miner.Options{
				Addr: addr, User: provMinerAddress + ".prov", Password: "x", Threads: 1,
				Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
				OnEvent: func(e miner.Event) {
					if e.Kind == "accepted" {
						accepted.Add(1)
						here.Add(1)
					}
				},
			})
			mineCtx, stop := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { defer close(done); _ = m.Run(mineCtx) }()
			want := blocks() + 1
			waitFor(t, 5*time.Minute, fmt.Sprintf("a block found through %s", addr), func() bool {
				return blocks() >= want && here.Load() >= 3
			})
			stop()
			<-done
			t.Logf("server %d (%s): %d shares accepted", i+1, addr, here.Load())
		}
	}) {
		return
	}

	t.Run("a forced payout pays the miner on chain", func(t *testing.T) {
		walletAddr := healthyAddr(t, consul, contract.WalletService("ltc"))
		v, _, err := nomad.Variables().Read(jobspec.WalletSecretsPath("ltc"), nil)
		require.NoError(t, err, "the deploy token reads the wallet's variable")
		wallet := chain.NewClient(walletAddr, v.Items[secrets.ItemUser], v.Items[secrets.ItemPassword])
		var burn string
		require.NoError(t, wallet.Call(ctx, "getnewaddress", nil, &burn))
		_, err = wallet.GenerateToAddress(ctx, 101, burn)
		require.NoError(t, err, "mature the pool's blocks")
		// The pool's key may be in the other wallet: until it has the 101
		// blocks too, the newest coinbases are immature there and the
		// payout rightly waits for them (a cold run under load forced it
		// while that wallet was two blocks behind: "insufficient funds").
		tip, err := wallet.BestBlockHash(ctx)
		require.NoError(t, err)
		instances, _, err := consul.Health().Service(contract.WalletService("ltc"), "", true, nil)
		require.NoError(t, err)
		for _, e := range instances {
			other := chain.NewClient(net.JoinHostPort(e.Service.Address, strconv.Itoa(e.Service.Port)), v.Items[secrets.ItemUser], v.Items[secrets.ItemPassword])
			waitFor(t, 2*time.Minute, "wallet "+e.Service.Address+" has the 101 blocks", func() bool {
				h, err := other.BestBlockHash(ctx)
				return err == nil && h == tip
			})
		}

		eval, _, err := nomad.Jobs().PeriodicForce("ltc-payout", nil)
		require.NoError(t, err, "the deploy token forces the payout")
		waitFor(t, 5*time.Minute, "the forced payout run", func() bool {
			ev, _, err := nomad.Evaluations().Info(eval, nil)
			if err != nil || ev.JobID == "" {
				return false
			}
			launch, _, err := nomad.Jobs().Info(ev.JobID, nil)
			return err == nil && *launch.Status == "dead"
		})
		pair, _, err := consul.KV().Get(contract.RecordKey("scryptpool", "ltc", contract.KindPayout), nil)
		require.NoError(t, err)
		require.NotNil(t, pair, "the payout recorded its run in Consul")
		var rec payout.Record
		require.NoError(t, json.Unmarshal(pair.Value, &rec))
		require.Equal(t, "ok", rec.Outcome, rec.Message)

		db := c.database(t, nomad, consul)
		var txid string
		var units int64
		require.NoError(t, db.QueryRow(ctx, `SELECT p.txid, i.amount FROM payouts p JOIN payout_items i ON i.payout_id = p.id
			WHERE p.status = 'sent' AND i.address = $1`, provMinerAddress).Scan(&txid, &units))
		var tx struct {
			Details []struct {
				Address  string      `json:"address"`
				Category string      `json:"category"`
				Amount   json.Number `json:"amount"`
			} `json:"details"`
		}
		// Every wallet instance holds the pool's keys and may pay: ask the
		// one the run paid from (the other learns the transaction only once
		// it is relayed; a cold run asked it first: "Invalid or non-wallet
		// transaction id").
		payer := chain.NewClient(rec.Wallet, v.Items[secrets.ItemUser], v.Items[secrets.ItemPassword])
		require.NoError(t, payer.Call(ctx, "gettransaction", []any{txid}, &tx), "ask the paying wallet %s", rec.Wallet)
		var sent json.Number
		for _, d := range tx.Details {
			if d.Address == provMinerAddress && d.Category == "send" {
				sent = d.Amount
			}
		}
		require.NotEmpty(t, sent, "transaction %s pays the miner", txid)
		got, err := payout.Units(json.Number(strings.TrimPrefix(string(sent), "-")), 100_000_000)
		require.NoError(t, err)
		assert.Equal(t, units, got, "the chain pays the miner what the ledger says (txid %s)", txid)
	})

	// The web job reads the pool's definition and the database's address
	// from Consul with its own identity and the ledger under its read-only
	// login: on this cluster, ACLs and TLS on, it shows the payout.
	t.Run("every web server shows the miner's payment", func(t *testing.T) {
		checkSite(t, c, nomad, consul)
	})

	t.Run("status shows the whole pool with the deploy tokens", func(t *testing.T) {
		// The payout came right after 101 blocks mined on one wallet: the
		// other's "in sync" check may still say it lags (a warm run caught
		// it critical for a second). The pool is whole once its own check,
		// published by the health watcher, passes again.
		healthyAddr(t, consul, contract.PoolService("scryptpool"))
		code, stdout, stderr := c.poolctlRun(t, env, "status", pool)
		require.Equal(t, 0, code, "poolctl status:\n%s\n%s", stdout, stderr)
		assert.Contains(t, stdout, "Pool scryptpool: passing")
		assert.Regexp(t, `site: http://\S+:\d+/`, stdout, "status says where the site answers")
		assert.Regexp(t, `ltc-payout\s+\S+ \S+ \S+\s+ok`, stdout)
		// Patroni's leader lock and replication work under ACLs and TLS
		// with the database job's own token.
		assert.Regexp(t, `healthy: node-0[45] is the primary; node-0[45] confirms every commit \(synchronous standby\)`, stdout)
		// The archive streams and publishes under its own policy: status
		// shows its base backup (it publishes once a minute).
		backedUp := regexp.MustCompile(`last base backup\s+\d{4}-\d\d-\d\d`)
		for deadline := time.Now().Add(3 * time.Minute); !backedUp.MatchString(stdout); {
			require.True(t, time.Now().Before(deadline), "status shows no base backup of the archive after 3 minutes:\n%s", stdout)
			time.Sleep(5 * time.Second)
			code, stdout, stderr = c.poolctlRun(t, env, "status", pool)
			require.Equal(t, 0, code, "poolctl status:\n%s\n%s", stdout, stderr)
		}
	})

	t.Run("the stratum server's wallet login cannot send coins", func(t *testing.T) {
		walletAddr := healthyAddr(t, consul, contract.WalletService("ltc"))
		v, _, err := nomad.Variables().Read(jobspec.StratumSecretsPath("ltc"), nil)
		require.NoError(t, err)
		stratum := chain.NewClient(walletAddr, v.Items[secrets.ItemUser], v.Items[secrets.ItemPassword])
		_, err = stratum.BlockCount(ctx)
		require.NoError(t, err)
		err = stratum.Call(ctx, "sendmany", []any{"", map[string]any{}}, nil)
		var rpcErr *chain.Error
		require.True(t, errors.As(err, &rpcErr) && rpcErr.Code == http.StatusForbidden, "sendmany with the stratum server's login: %v", err)
	})

	t.Run("the database restores from its archive with the deploy tokens", func(t *testing.T) {
		checkRestore(t, c, env, pool, nomad, consul)
	})

	// Every task reports the first refusal of each kind of Consul request
	// on its log: none may have been refused anything, so each job's
	// policy grants all it does.
	t.Run("Consul refused no task anything", func(t *testing.T) {
		mgmt := c.nomadClient(t, first, rootToken(t, first, "nomad-management"))
		r := validate.File(pool)
		require.True(t, r.OK())
		seen := 0
		for _, id := range contract.FromConfig(r.Pool).JobIDs() {
			allocs, _, err := mgmt.Jobs().Allocations(id, true, nil)
			require.NoError(t, err, "allocations of %s", id)
			for _, stub := range allocs {
				alloc, _, err := mgmt.Allocations().Info(stub.ID, nil)
				require.NoError(t, err)
				for task := range stub.TaskStates {
					stderr := catLog(t, mgmt, alloc, task+".stderr.0")
					seen++
					for _, line := range strings.Split(stderr, "\n") {
						require.False(t, strings.Contains(line, ": permission denied (") || strings.Contains(line, "Consul does not know this token"),
							"%s's task %s on %s was refused: %s", id, task, stub.NodeName, line)
					}
				}
			}
		}
		require.Positive(t, seen, "no task logs read")
		t.Logf("%d task logs hold no refusal", seen)
	})
}

// checkSite asks every passing web server for the provisioned miner's
// stats and payments: what it shows is what the ledger holds.
func checkSite(t *testing.T, c *testCluster, nomad *nomadapi.Client, consul *consulapi.Client) {
	t.Helper()
	ctx := context.Background()
	db := c.database(t, nomad, consul)
	var txid string
	require.NoError(t, db.QueryRow(ctx, `SELECT p.txid FROM payouts p JOIN payout_items i ON i.payout_id = p.id
		WHERE p.status = 'sent' AND i.address = $1`, provMinerAddress).Scan(&txid), "the miner's payout")

	service := contract.WebService("scryptpool")
	var servers []string
	waitFor(t, 3*time.Minute, "two passing "+service, func() bool {
		entries, _, err := consul.Health().Service(service, "", true, nil)
		if err != nil || len(entries) < 2 {
			return false
		}
		servers = nil
		for _, e := range entries {
			servers = append(servers, net.JoinHostPort(e.Service.Address, strconv.Itoa(e.Service.Port)))
		}
		return true
	})
	for _, addr := range servers {
		checkSiteServer(t, ctx, db, addr, txid)
	}
}

// checkSiteServer asks the web server at addr for the provisioned miner:
// its balance and total paid are the ledger's, its one payment is txid.
func checkSiteServer(t *testing.T, ctx context.Context, db *pgx.Conn, addr, txid string) {
	t.Helper()
	units := func(n json.Number) int64 {
		u, err := payout.Units(n, 100_000_000)
		require.NoError(t, err)
		return u
	}
	base := "http://" + addr + "/api/pools/ltc/miners/" + provMinerAddress
	// Answers are cached for 15 s, and the blocks job may credit a block
	// meanwhile: the ledger is read again with each answer.
	var m poolapi.MinerStats
	var paid, owed int64
	var lastErr error
	defer func() {
		if t.Failed() {
			t.Logf("%s last answered %+v (error: %v); the ledger: paid %d, owed %d", addr, m, lastErr, paid, owed)
		}
	}()
	waitFor(t, time.Minute, addr+" shows the miner's balance and payout", func() bool {
		m = poolapi.MinerStats{}
		if lastErr = getJSON(base, &m); lastErr != nil || m.TotalPaid == "" || m.PendingBalance == "" {
			return false
		}
		require.NoError(t, db.QueryRow(ctx, `SELECT paid, owed FROM balances WHERE coin = 'ltc' AND address = $1`, provMinerAddress).Scan(&paid, &owed))
		return units(m.TotalPaid) == paid && units(m.PendingBalance) == owed
	})
	require.Positive(t, paid, "the miner was paid")
	var payments []poolapi.Payment
	require.NoError(t, getJSON(base+"/payments", &payments), "%s: the miner's payments", addr)
	require.Len(t, payments, 1, "%s: the miner's payments", addr)
	assert.Equal(t, txid, payments[0].TransactionConfirmationData, "%s: the payment's transaction", addr)
	t.Logf("%s: total paid %s, pending %s, payment %s", addr, m.TotalPaid, m.PendingBalance, txid)
}

// getJSON decodes the 200 answer of url into v.
func getJSON(url string, v any) error {
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s: %s", url, resp.Status, body)
	}
	return json.Unmarshal(body, v)
}

// catLog is a task log file of the allocation, empty when the task wrote
// nothing there.
func catLog(t *testing.T, nomad *nomadapi.Client, alloc *nomadapi.Allocation, name string) string {
	t.Helper()
	r, err := nomad.AllocFS().Cat(alloc, "alloc/logs/"+name, nil)
	if err != nil && strings.Contains(err.Error(), "no such file") {
		return ""
	}
	require.NoError(t, err, "read %s of %s", name, alloc.ID)
	defer r.Close()
	data, err := io.ReadAll(r)
	require.NoError(t, err)
	return string(data)
}

func tokenFrom(t *testing.T, env []string, name string) string {
	t.Helper()
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			return v
		}
	}
	require.FailNow(t, "no "+name)
	return ""
}

// database connects to the pool's PostgreSQL with the login deploy made,
// which the deploy token may read.
func (c *testCluster) database(t *testing.T, nomad *nomadapi.Client, consul *consulapi.Client) *pgx.Conn {
	t.Helper()
	pool := &config.Pool{Name: "scryptpool"}
	addr := healthyAddr(t, consul, jobspec.DatabaseService(pool))
	v, _, err := nomad.Variables().Read(jobspec.DatabaseSecretsPath(pool), nil)
	require.NoError(t, err)
	host, port, _ := net.SplitHostPort(addr)
	conn, err := pgx.Connect(context.Background(), fmt.Sprintf("postgres://%s:%s@%s:%s/%s?sslmode=disable",
		v.Items[secrets.ItemDatabaseUser], v.Items[secrets.ItemDatabasePassword], host, port, jobspec.DatabaseName))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

// logTasks logs the end of what a job's task wrote, for a failure to be
// read from the test's output; the deploy token may read logs.
func logTasks(t *testing.T, nomad *nomadapi.Client, job, task string) {
	t.Helper()
	t.Log(taskLogs(t, nomad, job, task))
}

// taskLogs is the end of the logs of each allocation of job's task.
func taskLogs(t *testing.T, nomad *nomadapi.Client, job, task string) string {
	t.Helper()
	allocs, _, err := nomad.Jobs().Allocations(job, false, nil)
	if err != nil {
		return fmt.Sprintf("%s: %v", job, err)
	}
	var out strings.Builder
	for _, stub := range allocs {
		a, _, err := nomad.Allocations().Info(stub.ID, nil)
		if err != nil {
			continue
		}
		for _, stream := range []string{"stderr", "stdout"} {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			frames, errs := nomad.AllocFS().Logs(a, false, task, stream, "end", 3000, ctx.Done(), nil)
			var data []byte
		read:
			for {
				select {
				case f, ok := <-frames:
					if !ok {
						break read
					}
					if f != nil {
						data = append(data, f.Data...)
					}
				case <-errs:
					break read
				case <-ctx.Done():
					break read
				}
			}
			cancel()
			fmt.Fprintf(&out, "--- %s %s %s (%s):\n%s\n", job, task, stream, stub.ID[:8], data)
		}
	}
	return out.String()
}

// checkRestore runs the README's restore on the provisioned cluster with
// the deploy tokens: a row committed before the target comes back, one
// committed after it does not, the payout's record is kept, and the pool
// is healthy again. The members read the request and fetch the archive
// from the backup node with their own tokens (the next subtest checks
// that Consul refused them nothing).
func checkRestore(t *testing.T, c *testCluster, env []string, pool string, nomad *nomadapi.Client, consul *consulapi.Client) {
	ctx := context.Background()
	v, _, err := nomad.Variables().Read(jobspec.DatabaseSecretsPath(&config.Pool{Name: "scryptpool"}), nil)
	require.NoError(t, err)
	// The primary, found as the pool's processes find it.
	dsn := fmt.Sprintf("postgres://%s:%s@placeholder/%s?sslmode=disable&connect_timeout=5",
		v.Items[secrets.ItemDatabaseUser], v.Items[secrets.ItemDatabasePassword], jobspec.DatabaseName)
	db, err := ledger.Open(dsn, consul, contract.DatabaseService("scryptpool"), 2)
	require.NoError(t, err)
	var paid int
	require.NoError(t, db.QueryRow(ctx, "SELECT count(*) FROM payouts WHERE status = 'sent'").Scan(&paid))
	require.Positive(t, paid)
	_, err = db.Exec(ctx, "CREATE TABLE restore_probe (n int PRIMARY KEY)")
	require.NoError(t, err)
	_, err = db.Exec(ctx, "INSERT INTO restore_probe VALUES (1)")
	require.NoError(t, err)
	time.Sleep(50 * time.Millisecond) // the target falls strictly between the two commits
	target := time.Now()
	time.Sleep(50 * time.Millisecond)
	_, err = db.Exec(ctx, "INSERT INTO restore_probe VALUES (2)")
	require.NoError(t, err)
	waitFor(t, 3*time.Minute, "the archive to hold the commit after the target", func() bool {
		pair, _, err := consul.KV().Get(contract.ArchiveInfoKey("scryptpool"), nil)
		if err != nil || pair == nil {
			return false
		}
		var info dbarchive.Info
		return json.Unmarshal(pair.Value, &info) == nil && info.LastCommit != nil && info.LastCommit.After(target)
	})
	start := time.Now()
	code, stdout, stderr := c.poolctlRun(t, env, "database", "restore", "--to", target.UTC().Format(time.RFC3339Nano), "--yes", "--timeout", "15m", pool)
	require.Equal(t, 0, code, "poolctl database restore:\n%s\n%s", stdout, stderr)
	t.Logf("restored in %s: %s", time.Since(start).Round(time.Second), strings.TrimSpace(stdout))

	db.Close() // its connections were to the database the restore replaced
	db, err = ledger.Open(dsn, consul, contract.DatabaseService("scryptpool"), 2)
	require.NoError(t, err)
	defer db.Close()
	var probe []int
	rows, err := db.Query(ctx, "SELECT n FROM restore_probe ORDER BY n")
	require.NoError(t, err)
	for rows.Next() {
		var n int
		require.NoError(t, rows.Scan(&n))
		probe = append(probe, n)
	}
	require.NoError(t, rows.Err())
	assert.Equal(t, []int{1}, probe, "the row committed before the target, not the one after")
	var paidAfter int
	require.NoError(t, db.QueryRow(ctx, "SELECT count(*) FROM payouts WHERE status = 'sent'").Scan(&paidAfter))
	assert.Equal(t, paid, paidAfter, "the payouts sent before the target are in the restored ledger")
	code, stdout, stderr = c.poolctlRun(t, env, "status", pool)
	require.Equal(t, 0, code, "poolctl status:\n%s\n%s", stdout, stderr)
	assert.Regexp(t, `healthy: node-0[45] is the primary; node-0[45] confirms every commit \(synchronous standby\)`, stdout)
}
