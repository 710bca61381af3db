// Package contract is the one home of every name the pool's processes
// share through Consul and Nomad: the Consul keys (all under one root per
// pool), the services, the Nomad Variable paths and the job IDs, and what
// each process reads and writes. The ACL policies Ansible and Terraform
// install are derived from it (Policies), so a policy cannot drift from
// the code that needs it.
package contract

// KVRoot is the root of every Consul key of a pool.
func KVRoot(pool string) string { return "poolctl/" + pool + "/" }

// ConfigKey holds the pool definition last deployed (written by deploy).
func ConfigKey(pool string) string { return KVRoot(pool) + "config" }

// ServicesKey holds the services the pool expects, which the health
// watcher follows (written by deploy).
func ServicesKey(pool string) string { return KVRoot(pool) + "services" }

// DeploymentKey holds the outcome of the last deployment.
func DeploymentKey(pool string) string { return KVRoot(pool) + "deployment" }

// RecordKey is where the last run of a periodic job is kept; coin is
// empty for the pool's own jobs (stats, backup), job is its kind.
func RecordKey(pool, coin, job string) string { return KVRoot(pool) + "runs/" + scope(coin) + job }

// LockKey is the Consul lock a periodic job's run holds.
func LockKey(pool, coin, job string) string { return KVRoot(pool) + "locks/" + scope(coin) + job }

// PoolAddressKey is where the stratum servers keep a coin's pool address.
func PoolAddressKey(pool, coin string) string { return KVRoot(pool) + coin + "/pool-address" }

func scope(coin string) string {
	if coin == "" {
		return ""
	}
	return coin + "/"
}

// The meta keys every job of a pool carries: which pool, what kind of job
// (jobspec.Kind), and for a coin's jobs which coin.
const (
	MetaPool = "pool"
	MetaKind = "pool_kind"
	MetaCoin = "pool_coin"
)

// JobID names the job of a kind for a coin, or pool-wide when coin is "".
func JobID(pool, coin, kind string) string {
	if coin == "" {
		return pool + "-" + kind
	}
	return coin + "-" + kind
}

// VariablePath is the Nomad Variable of a job: its tasks may read it
// without any ACL policy (Nomad's implicit workload access).
func VariablePath(jobID string) string { return "nomad/jobs/" + jobID }

// The wallet job's group and its probe task, which alone reads the
// pool's HD seed.
const (
	WalletGroup = "wallet"
	ProbeTask   = "probe"
)

// WalletSeedPath is the Nomad variable holding a coin's HD seed, the
// pool's keys: under Nomad's implicit workload policy only the wallet
// job's probe task reads it (not the daemon, not the other jobs), and
// the probe gives it to its daemon's wallet.
func WalletSeedPath(coin string) string {
	return VariablePath(JobID("", coin, KindWallet)) + "/" + WalletGroup + "/" + ProbeTask
}

// Services of the pool in Consul.
func WalletService(coin string) string         { return coin + "-wallet" }
func WalletP2PService(coin string) string      { return coin + "-wallet-p2p" }
func StratumService(coin string) string        { return coin + "-stratum" }
func StratumMetricsService(coin string) string { return coin + "-stratum-metrics" }
func DatabaseService(pool string) string       { return pool + "-database" }

// WebService is the web servers' service: MiningCore's API, checked at
// WebHealthPath.
func WebService(pool string) string { return pool + "-web" }

// WebHealthPath is where a web server answers its Consul check
// (MiningCore's /api/health-check).
const WebHealthPath = "/api/health-check"

// WalletProbeMeta is the key, in a wallet service's Consul meta, of its
// instance's probe (host:port): status reads its report there, and the
// backup job fetches the instance's wallet copies from it.
const WalletProbeMeta = "probe"

// The replicated database keeps its cluster state in Consul through
// Patroni: the leader key (whose session is the primary's lease), one key
// per member (its address, role, state and WAL position), the
// synchronous standby, the cluster's configuration. Patroni writes them
// under <DatabaseDCSNamespace>/<DatabaseScope>/, which is
// DatabaseDCSPrefix.
const DatabaseScope = "database"

// DatabaseDCSNamespace is Patroni's "namespace" setting for a pool.
func DatabaseDCSNamespace(pool string) string { return "/" + KVRoot(pool) }

// DatabaseDCSPrefix is the Consul key prefix of the database's cluster
// state; DatabaseDCSKey names one key under it ("leader", "sync",
// "status", "config", "initialize", "members/<name>").
func DatabaseDCSPrefix(pool string) string { return KVRoot(pool) + DatabaseScope + "/" }

func DatabaseDCSKey(pool, key string) string { return DatabaseDCSPrefix(pool) + key }

// Patroni's keys under DatabaseDCSPrefix, named as Patroni names them:
// its members write them, status reads them.
const (
	DatabaseKeyLeader     = "leader"        // the primary's member name, held by its session
	DatabaseKeySync       = "sync"          // JSON: leader, sync_standby (comma separated)
	DatabaseKeyStatus     = "status"        // JSON: optime, the leader's last WAL position
	DatabaseKeyOptime     = "optime/leader" // older Patroni, before the status key: the same position
	DatabaseKeyConfig     = "config"        // JSON: the cluster's shared settings
	DatabaseKeyInitialize = "initialize"    // the system identifier, once bootstrapped
	DatabaseKeyFailover   = "failover"      // JSON: a requested switchover (leader, member)
	DatabaseKeyMembers    = "members/"      // + name: JSON of one member
	DatabaseKeyHistory    = "history"       // JSON: [[timeline, lsn, reason, time, new leader], ...], one per promotion
)

// PoolService is the Consul service that stands for the whole pool, with
// one check the health watcher keeps current.
func PoolService(pool string) string { return pool }

// PoolNode is the external Consul node the pool's service is registered
// on: no agent owns it, so anti-entropy leaves it alone.
func PoolNode(pool string) string { return pool + "-pool" }

// PoolCheckID and PoolCheckName name the pool's check.
func PoolCheckID(pool string) string { return pool + ":expected-services" }

const PoolCheckName = "expected services present"
