package contract

import (
	"fmt"
	"slices"
	"sort"
)

// Pool is what the contract needs of a pool definition.
type Pool struct {
	Name string
	// Coins are the coins' names, in definition order.
	Coins []string
	// Volumes are the host volumes the pool's jobs mount.
	Volumes []string
	// FloatingAddress: keepalived on every node keeps the pool's floating
	// address where the stratum servers pass their checks.
	FloatingAddress bool
}

// Levels of access.
const (
	Read  = "read"
	Write = "write"
)

// Consul ACL rule kinds this contract uses.
const (
	RuleKey           = "key"
	RuleKeyPrefix     = "key_prefix"
	RuleService       = "service"
	RuleNodePrefix    = "node_prefix"
	RuleNode          = "node"
	RuleSessionPrefix = "session_prefix"
)

// Access is one thing a process does in Consul.
type Access struct {
	Rule  string // RuleKey, RuleService, ...
	Name  string // the key, service or node (a prefix for *_prefix rules)
	Level string // Read or Write
	Why   string
}

func (a Access) String() string { return fmt.Sprintf("%s %q %s", a.Rule, a.Name, a.Level) }

// Grantee is a token's holder: the operator's deploy token, or a job whose
// tasks reach Consul.
type Grantee struct {
	// Name is the ACL policy's name: "poolctl-deploy" for the operator, the
	// job ID for a job (a Consul binding rule can then bind a task's
	// workload identity to the policy named by its job).
	Name     string
	Consul   []Access
	Describe string
}

// DeployPolicy is the name of the operator's policies, in Consul and Nomad.
const DeployPolicy = "poolctl-deploy"

// FloatingAddressPolicy is the Consul policy of keepalived's check on every
// node (poolctl floating-check); the acl role makes one token with it.
const FloatingAddressPolicy = "floating-address"

// Job kinds whose tasks reach Consul, as JobID names them.
const (
	KindWallet  = "wallet"
	KindStratum = "stratum"
	KindPayout  = "payout"
	KindBlocks  = "blocks"
	KindStats   = "stats"
	KindBackup  = "backup"
	KindHealth  = "health"
	// KindArchive streams the database's WAL and takes its base backups
	// on the backup volume's node.
	KindArchive = "archive"
	// KindDatabase's members (Patroni) keep the cluster's state in Consul.
	KindDatabase = "database"
	// KindWeb serves the pool's figures (MiningCore's API) from the
	// database, under a read-only login.
	KindWeb = "web"
)

// JobIDs are every job of the pool.
func (p Pool) JobIDs() []string {
	out := []string{JobID(p.Name, "", KindDatabase)}
	for _, coin := range p.Coins {
		for _, kind := range []string{KindWallet, KindStratum, KindPayout, KindBlocks} {
			out = append(out, JobID(p.Name, coin, kind))
		}
	}
	for _, kind := range []string{KindArchive, KindStats, KindBackup, KindWeb, KindHealth} {
		out = append(out, JobID(p.Name, "", kind))
	}
	return out
}

// nodesRead is needed by every health query: Consul filters service
// instances by read access to the node each runs on, and the nodes are
// whatever the operator named the Pis.
var nodesRead = Access{RuleNodePrefix, "", Read, "service instances are filtered by read access to their node"}

func serviceRead(name, why string) Access { return Access{RuleService, name, Read, why} }

// Grantees lists every token holder of the pool with what it may do in
// Consul, the operator first.
func (p Pool) Grantees() []Grantee {
	out := []Grantee{p.operator(), p.health(), p.database(), p.archive()}
	for _, coin := range p.Coins {
		out = append(out, p.wallet(coin), p.stratum(coin), p.periodic(coin, KindPayout), p.periodic(coin, KindBlocks))
	}
	out = append(out, p.housekeeping(KindStats), p.housekeeping(KindBackup), p.web())
	if p.FloatingAddress {
		out = append(out, p.floatingAddress())
	}
	return out
}

// Services are every Consul service the pool's jobs register.
func (p Pool) Services() []string {
	out := []string{DatabaseService(p.Name)}
	for _, coin := range p.Coins {
		out = append(out, WalletService(coin), WalletP2PService(coin), StratumService(coin), StratumMetricsService(coin))
	}
	return out
}

func (p Pool) operator() Grantee {
	g := Grantee{Name: DeployPolicy, Describe: "poolctl deploy, plan and status: the pool's records, its check, its services"}
	for _, key := range []string{ConfigKey(p.Name), ServicesKey(p.Name), DeploymentKey(p.Name)} {
		g.Consul = append(g.Consul, Access{RuleKey, key, Write, "deploy records what it deployed"})
	}
	g.Consul = append(g.Consul,
		Access{RuleKey, DatabaseRestoreKey(p.Name), Write, "database restore records the restore the members carry out"},
		Access{RuleKeyPrefix, DatabaseDCSPrefix(p.Name), Write, "database restore clears the stopped cluster's state (Patroni's keys) so that a new one is made from the archive"},
		Access{RuleKeyPrefix, KVRoot(p.Name), Read, "status reads the runs, locks, pool addresses and the database's cluster state (Patroni's keys)"},
		Access{RuleNode, PoolNode(p.Name), Write, "deploy publishes the pool's check on its external node"},
		Access{RuleService, PoolService(p.Name), Write, "deploy publishes the pool's service"},
		nodesRead)
	for _, s := range p.Services() {
		g.Consul = append(g.Consul, serviceRead(s, "deploy and status read the pool's services"))
	}
	g.Consul = append(g.Consul, serviceRead(ArchiveService(p.Name), "database restore checks that the archive serves"))
	g.Consul = append(g.Consul, serviceRead(WebService(p.Name), "deploy and status read the web servers"))
	return g
}

func (p Pool) health() Grantee {
	g := Grantee{Name: JobID(p.Name, "", KindHealth), Describe: "the health watcher: follows the pool's services, publishes the pool's check"}
	g.Consul = append(g.Consul,
		Access{RuleKey, ServicesKey(p.Name), Read, "the services deploy expects"},
		Access{RuleNode, PoolNode(p.Name), Write, "the pool's check is on its external node"},
		Access{RuleService, PoolService(p.Name), Write, "the pool's service carries its check"},
		nodesRead)
	for _, s := range p.Services() {
		g.Consul = append(g.Consul, serviceRead(s, "followed with blocking queries"))
	}
	return g
}

func (p Pool) database() Grantee {
	return Grantee{Name: JobID(p.Name, "", KindDatabase), Describe: "the database's members (Patroni): the cluster's state and the leader lock",
		Consul: []Access{
			{RuleKeyPrefix, DatabaseDCSPrefix(p.Name), Write, "Patroni keeps the leader lock, the members and the cluster's configuration there"},
			{RuleSessionPrefix, "", Write, "the leader lock's session is on whichever node the primary runs"},
			{RuleKey, DatabaseRestoreKey(p.Name), Read, "a restore the operator asked for: a member sets its old copy aside, the new cluster comes from the archive"},
			serviceRead(ArchiveService(p.Name), "a restore fetches the archive from the archive's node"),
			nodesRead,
		}}
}

func (p Pool) archive() Grantee {
	return Grantee{Name: JobID(p.Name, "", KindArchive), Describe: "the database's archive: streams WAL from the primary, publishes what it holds",
		Consul: []Access{
			serviceRead(DatabaseService(p.Name), "the members, to find the primary"),
			{RuleKey, ArchiveInfoKey(p.Name), Write, "status shows the archive"},
			nodesRead,
		}}
}

func (p Pool) wallet(coin string) Grantee {
	return Grantee{Name: JobID(p.Name, coin, KindWallet), Describe: "the wallet's probe and its addnode template: the coin's wallets",
		Consul: []Access{
			serviceRead(WalletService(coin), "the probe compares this wallet with its siblings"),
			serviceRead(WalletP2PService(coin), "the daemon's addnode lines name its siblings"),
			nodesRead,
		}}
}

func (p Pool) stratum(coin string) Grantee {
	return Grantee{Name: JobID(p.Name, coin, KindStratum), Describe: "the stratum server: wallets, database, pool address",
		Consul: []Access{
			{RuleKey, PoolAddressKey(p.Name, coin), Write, "the first server picks the pool address, the others read it"},
			serviceRead(WalletService(coin), "work comes from the healthiest wallet"),
			serviceRead(DatabaseService(p.Name), "shares are written to the database"),
			serviceRead(StratumService(coin), "the servers agree on the pool address"),
			nodesRead,
		}}
}

// web reads what it shows: the deployed definition (coins, ports, fees,
// payout settings), each coin's pool address, and where the database's
// primary is. It writes nothing in Consul.
func (p Pool) web() Grantee {
	g := Grantee{Name: JobID(p.Name, "", KindWeb), Describe: "the web servers: the pool's definition, pool addresses, database",
		Consul: []Access{
			{RuleKey, ConfigKey(p.Name), Read, "the coins, ports, fees and payout settings the API shows"},
		}}
	for _, coin := range p.Coins {
		g.Consul = append(g.Consul, Access{RuleKey, PoolAddressKey(p.Name, coin), Read, "the API shows the pool address"})
	}
	g.Consul = append(g.Consul, serviceRead(DatabaseService(p.Name), "the ledger, read-only"), nodesRead)
	return g
}

func (p Pool) floatingAddress() Grantee {
	g := Grantee{Name: FloatingAddressPolicy, Describe: "keepalived's check on every node: may this node hold the floating address"}
	for _, coin := range p.Coins {
		g.Consul = append(g.Consul, serviceRead(StratumService(coin), "the local agent's checks of this node's stratum server"))
	}
	return g
}

// lockAndRecord is what every periodic job does: run under a lock (a
// session on the node it runs on) and record the run.
func (p Pool) lockAndRecord(coin, kind string) []Access {
	return []Access{
		{RuleKey, LockKey(p.Name, coin, kind), Write, "one run at a time"},
		{RuleKey, RecordKey(p.Name, coin, kind), Write, "status shows the last run"},
		{RuleSessionPrefix, "", Write, "the lock's session is on whichever node the run lands"},
	}
}

func (p Pool) periodic(coin, kind string) Grantee {
	g := Grantee{Name: JobID(p.Name, coin, kind), Describe: "a coin's " + kind + " runs: wallets, database, pool address"}
	g.Consul = append(p.lockAndRecord(coin, kind),
		Access{RuleKey, PoolAddressKey(p.Name, coin), Read, "rewards are paid to the pool address"},
		serviceRead(WalletService(coin), "the wallet that holds the pool's key"),
		serviceRead(DatabaseService(p.Name), "the ledger"),
		nodesRead)
	return g
}

func (p Pool) housekeeping(kind string) Grantee {
	what := "the database"
	if kind == KindBackup {
		what = "the database and the wallets"
	}
	g := Grantee{Name: JobID(p.Name, "", kind), Describe: "the pool's " + kind + " runs: " + what}
	g.Consul = append(p.lockAndRecord("", kind), serviceRead(DatabaseService(p.Name), "the ledger"))
	if kind == KindBackup {
		for _, coin := range p.Coins {
			g.Consul = append(g.Consul, serviceRead(WalletService(coin), "each wallet writes its backup"))
		}
	}
	g.Consul = append(g.Consul, nodesRead)
	return g
}

// Grantee returns the named grantee.
func (p Pool) Grantee(name string) (Grantee, bool) {
	for _, g := range p.Grantees() {
		if g.Name == name {
			return g, true
		}
	}
	return Grantee{}, false
}

// NomadDeploy is what the operator's Nomad token may do.
type NomadDeploy struct {
	// Capabilities in the pool's namespace.
	Capabilities []string
	// Variables are the paths of the jobs' variables, which deploy writes.
	Variables []string
	// Volumes are the host volumes the jobs mount read-write: registering
	// such a job needs mount-readwrite on each.
	Volumes []string
}

// Namespace is the Nomad namespace the pool's jobs run in.
const Namespace = "default"

// NomadDeploy returns the operator's Nomad grants: register, plan, watch,
// revert and force the pool's jobs, write their variables, mount their
// volumes, read nodes. No ACLs, no node writes, no agent, no operator.
func (p Pool) NomadDeploy() NomadDeploy {
	d := NomadDeploy{
		Capabilities: []string{"list-jobs", "read-job", "submit-job", "dispatch-job", "read-logs", "alloc-lifecycle"},
		Volumes:      slices.Clone(p.Volumes),
	}
	for _, id := range p.JobIDs() {
		d.Variables = append(d.Variables, VariablePath(id))
	}
	for _, coin := range p.Coins {
		d.Variables = append(d.Variables, WalletSeedPath(coin))
	}
	sort.Strings(d.Variables)
	sort.Strings(d.Volumes)
	d.Volumes = slices.Compact(d.Volumes)
	return d
}

// PolicyFiles are the ACL policy files of a pool, by file name:
// consul-<policy>.hcl for each grantee, nomad-poolctl-deploy.hcl, and
// nomad-task-<job>.<group>.<task>.hcl for each Nomad policy bound to a
// task's workload identity.
// Ansible's acl role and terraform/ install what `poolctl policies`
// writes.
func (p Pool) PolicyFiles() map[string][]byte {
	out := map[string][]byte{"nomad-" + DeployPolicy + ".hcl": NomadPolicy(p.NomadDeploy())}
	for _, tp := range p.NomadTaskPolicies() {
		out[tp.File()] = tp.Rules
	}
	for _, g := range p.Grantees() {
		out["consul-"+g.Name+".hcl"] = ConsulPolicy(g)
	}
	return out
}

// Nomad ACL objects the operator's token needs.
const (
	NomadNamespace  = "namespace"
	NomadVariable   = "variable"
	NomadHostVolume = "host_volume"
	NomadNode       = "node"
	NomadAgent      = "agent"
)

// NomadAccess is one thing the operator's commands do in Nomad.
type NomadAccess struct {
	Object     string // NomadNamespace, NomadVariable, ...
	Name       string // the namespace, variable path or volume ("" for node, agent)
	Capability string // a namespace capability, a variable or host volume capability, or read/write
	Why        string
}

func (a NomadAccess) String() string {
	switch a.Object {
	case NomadNode, NomadAgent:
		return fmt.Sprintf("%s %s", a.Object, a.Capability)
	case NomadVariable:
		return fmt.Sprintf("%s the variable %q", a.Capability, a.Name)
	case NomadHostVolume:
		return fmt.Sprintf("%s the host volume %q", a.Capability, a.Name)
	}
	return fmt.Sprintf("%s in namespace %q", a.Capability, a.Name)
}

// Accesses are what the grants allow, one capability each.
func (d NomadDeploy) Accesses() []NomadAccess {
	var out []NomadAccess
	for _, c := range d.Capabilities {
		out = append(out, NomadAccess{NomadNamespace, Namespace, c, "deploy registers, watches, reverts and forces the jobs"})
	}
	for _, v := range d.Variables {
		for _, c := range []string{"write", "read", "list"} {
			out = append(out, NomadAccess{NomadVariable, v, c, "deploy writes the jobs' secrets"})
		}
	}
	for _, v := range d.Volumes {
		out = append(out, NomadAccess{NomadHostVolume, v, "mount-readwrite", "registering a job that mounts it"})
	}
	return append(out, NomadAccess{NomadNode, "", Read, "deploy and status read the nodes"})
}

// Operator commands, with what each needs of the deploy tokens.
const (
	CommandDeploy = "deploy"
	CommandPlan   = "plan"
	CommandStatus = "status"
	// CommandRestore (poolctl database restore) stops the pool's writers
	// and its database, makes a new database from the archive and
	// deploys the pool again: everything deploy needs.
	CommandRestore = "restore"
)

// OperatorNeeds is what a command of the operator does in Nomad and
// Consul: deploy everything the deploy policies grant, plan and status a
// part of it.
func (p Pool) OperatorNeeds(command string) ([]NomadAccess, []Access) {
	nomad, consul := p.NomadDeploy().Accesses(), p.operator().Consul
	if command == CommandDeploy || command == CommandRestore {
		return nomad, consul
	}
	keepNomad := map[string]bool{"list-jobs": true, "read-job": true}
	if command == CommandPlan {
		keepNomad["submit-job"] = true // a plan is a dry-run register
	}
	var n []NomadAccess
	for _, a := range nomad {
		if a.Object == NomadNamespace && keepNomad[a.Capability] || a.Object == NomadNode {
			n = append(n, a)
		}
	}
	var c []Access
	if command == CommandStatus {
		for _, a := range consul {
			if a.Level == Read {
				c = append(c, a)
			}
		}
	}
	return n, c
}

// WalletLogins are the jobs that call a coin's wallets, each with a wallet
// RPC login of its own limited to the methods it calls (litecoind's
// rpcwhitelist): the stratum server cannot send coins, the block tracker
// cannot either, the backup can only back up. The wallet's own login (its
// probe's, and the operator's) stays unrestricted.
var WalletLogins = map[string][]string{
	KindStratum: {"getaddressinfo", "getblockcount", "getnewaddress", "getblocktemplate", "submitblock", "getbestblockhash"},
	KindBlocks:  {"getaddressinfo", "getwalletinfo", "getblockcount", "getblockchaininfo", "getnetworkinfo", "getblock", "getblockhash", "gettransaction"},
	KindPayout:  {"getaddressinfo", "getwalletinfo", "getblockcount", "getblockchaininfo", "getnetworkinfo", "getblock", "getblockhash", "gettransaction", "listtransactions", "getbalances", "send", "sendrawtransaction"},
	KindBackup:  {"backupwallet"},
}

// WalletLoginKinds are the keys of WalletLogins, in a fixed order.
func WalletLoginKinds() []string {
	return []string{KindStratum, KindBlocks, KindPayout, KindBackup}
}

// HealthGroup and CatchupTask name the health job's group and its task
// that catches up missed periodic slots (package catchup), the one task
// of the pool that talks to Nomad.
const (
	HealthGroup = "health"
	CatchupTask = "catchup"
)

// NomadTaskPolicy is a Nomad ACL policy bound to one task of a job: Nomad
// grants it to that task's workload identity, and to nothing else.
type NomadTaskPolicy struct {
	Job, Group, Task string
	Rules            []byte
}

// Name is the policy's name in Nomad (letters, digits and dashes only).
func (tp NomadTaskPolicy) Name() string { return tp.Job + "-" + tp.Task }

// File is its file name, which carries the binding for Ansible and
// Terraform: nomad-task-<job>.<group>.<task>.hcl (job IDs, groups and
// tasks of the pool have no dots).
func (tp NomadTaskPolicy) File() string {
	return "nomad-task-" + tp.Job + "." + tp.Group + "." + tp.Task + ".hcl"
}

// NomadTaskPolicies are the pool's task-bound Nomad policies: the
// catch-up's.
func (p Pool) NomadTaskPolicies() []NomadTaskPolicy {
	return []NomadTaskPolicy{{Job: JobID(p.Name, "", KindHealth), Group: HealthGroup, Task: CatchupTask, Rules: CatchupPolicy()}}
}
