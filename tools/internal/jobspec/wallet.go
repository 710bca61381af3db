package jobspec

import (
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/scryptpool/poolmicrocloud/tools/internal/config"
	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
	"github.com/scryptpool/poolmicrocloud/tools/internal/nomadhcl"
	"github.com/scryptpool/poolmicrocloud/tools/internal/secrets"
)

// ChainMount is where a wallet's host volume appears inside its task.
const ChainMount = "/chain"

// WalletBackupDir is the directory, in an instance's datadir, of the
// copies of its wallet that the backup job has it write.
const WalletBackupDir = "backups"

// NobodyID is the uid and gid of nobody on Debian and Raspberry Pi OS: the
// wallet's secrets are rendered for the user its tasks run as.
const NobodyID = 65534

// WalletName is the wallet (keys) the pool's daemons keep loaded: block
// rewards are paid to it and payouts are sent from it.
const WalletName = "pool"

// HDSeedFile is the probe's file, in its secrets directory, holding the
// pool's HD seed.
const HDSeedFile = "hd.seed"

// WalletSecretsPath is the Nomad variable holding a coin's wallet RPC
// credentials. Under nomad/jobs/<job>, the wallet job's own tasks may read
// it without any ACL policy.
func WalletSecretsPath(coin string) string {
	return contract.VariablePath(contract.JobID("", coin, string(KindWallet)))
}

// Wallet check names, which poolctl status and the failover benchmark read.
const (
	CheckLive = "rpc answers"
	CheckSync = "in sync"
)

// walletStartup is how long a wallet may take to open its chain state before
// Nomad counts it unhealthy. On mainnet a Pi verifies recent blocks at start
// for minutes; a regtest chain opens in seconds.
func walletStartup(network string) time.Duration {
	if network == "regtest" {
		return time.Minute
	}
	return 15 * time.Minute
}

// walletKillTimeout is how long the daemon may take to stop. It flushes
// its chain state on SIGTERM, which on a Pi's USB disk takes a while; an
// unclean stop costs a replay of recent blocks at the next start. A hung
// daemon (the reason check_restart stops it) does not act on SIGTERM at
// all and is killed when this runs out, so it also bounds how long a hang
// lasts. Regtest chains are tiny and flush at once.
func walletKillTimeout(network string) time.Duration {
	if network == "regtest" {
		return 3 * time.Second
	}
	return 45 * time.Second
}

// walletRPCThreads is how many RPC calls the daemon works on at once. Each
// stratum instance keeps a long poll (getblocktemplate, BIP 22) waiting in
// the wallet it works from, holding one thread until the tip moves; and
// litecoind keeps holding it after the caller left (a stratum restart, a
// switch to another wallet) until then. Beside the default 4 threads for
// the short calls of the probe, the stratum servers' polls and blocks,
// payouts, block tracking and backups, there is room for every instance's
// long poll and one left behind by each; otherwise those short calls
// queue behind the long polls and the probe's check times out.
func walletRPCThreads(stratumInstances int) int {
	return 4 + 2*stratumInstances
}

// configSection is the daemon's name for a network in its config file;
// peer settings only count inside their network's section.
var configSection = map[string]string{"mainnet": "main", "testnet": "test", "regtest": "regtest"}

func (b builder) wallet(coin *config.Coin) *Job {
	w := coin.Wallet
	job := b.newJob(coin.Name, KindWallet, "service", 80)
	startup := walletStartup(coin.Network)
	job.Update = oneAtATime("checks", 10*time.Second, startup, startup+10*time.Minute)
	job.Update.Stagger = ptr(30 * time.Second)
	datadir := path.Join(ChainMount, "${NOMAD_ALLOC_INDEX}")
	args := []string{}
	switch coin.Network {
	case "regtest":
		// An idle regtest chain's tip is the 2011 genesis block; without
		// this the daemon reports initial block download until a block is
		// mined.
		// A fresh regtest chain has no fee history to estimate from; without
		// a fallback fee the payout's transaction cannot be built.
		args = append(args, "-regtest", "-maxtipage=2147483647", "-fallbackfee=0.0001")
	case "testnet":
		args = append(args, "-testnet")
	}
	args = append(args,
		"-datadir="+datadir,
		"-conf=${NOMAD_SECRETS_DIR}/litecoin.conf",
		"-server=1",
		"-printtoconsole=1",
		"-nodebuglogfile",
		"-bind=${NOMAD_IP_p2p}:${NOMAD_PORT_p2p}",
		"-rpcbind=${NOMAD_IP_rpc}",
		"-rpcport=${NOMAD_PORT_rpc}",
		// The node's own address: the probe and local stratum servers
		// connect from it.
		"-rpcallowip=127.0.0.1",
		"-rpcallowip=${NOMAD_IP_rpc}",
	)
	for _, lan := range b.pool.Cluster.LAN {
		args = append(args, "-rpcallowip="+lan)
	}
	args = append(args,
		fmt.Sprintf("-dbcache=%d", w.DBCacheMB),
		fmt.Sprintf("-maxconnections=%d", w.MaxConnections),
		fmt.Sprintf("-rpcthreads=%d", walletRPCThreads(coin.Stratum.Instances)),
		"-upnp=0",
		"-listenonion=0",
		// The pool's wallet is loaded by the daemon itself at every start,
		// before its RPC leaves warm-up: a payout or backup that finds the
		// daemon answering finds the wallet loaded. On the very first
		// start there is none yet (the daemon skips the name with a
		// warning) and the probe creates it.
		"-wallet="+WalletName,
	)
	if w.PruneMB > 0 {
		args = append(args, fmt.Sprintf("-prune=%d", w.PruneMB))
	}
	secretsPath := WalletSecretsPath(coin.Name)
	var jobLogins, whitelists string
	for _, kind := range contract.WalletLoginKinds() {
		jobLogins += fmt.Sprintf("rpcauth={{ .%s }}\n", secrets.WalletLoginItem(secrets.ItemRPCAuth, kind))
		whitelists += fmt.Sprintf("rpcwhitelist=%s:%s\n", secrets.WalletLoginUser(kind), strings.Join(contract.WalletLogins[kind], ","))
	}
	var peers string
	if len(w.Peers) > 0 {
		peers = "# The pool definition's peers, kept connected by the daemon.\n"
		for _, p := range w.Peers {
			peers += "addnode=" + p + "\n"
		}
	}
	conf := fmt.Sprintf(`# Rendered by Nomad: the RPC logins from the Nomad variable %[1]s
# (hashed: the daemon keeps no password), and the coin's other wallets as
# peers, as Consul knew them when this instance started; the probe keeps
# them connected after that.
{{ with nomadVar %[2]q }}rpcauth={{ .%[3]s }}
%[6]s{{ end }}
# Each job's login may call only the methods it needs; the wallet's own
# login (its probe's and the operator's) is not limited.
rpcwhitelistdefault=0
%[7]s[%[4]s]
{{ range service %[5]q }}{{ if ne (printf "%%s:%%d" .Address .Port) (env "NOMAD_ADDR_p2p") }}addnode={{ .Address }}:{{ .Port }}
{{ end }}{{ end }}
%[8]s`, secretsPath, secretsPath, secrets.ItemRPCAuth, configSection[coin.Network], contract.WalletP2PService(coin.Name)+"|any", jobLogins, whitelists, peers)
	credentials := fmt.Sprintf("{{ with nomadVar %q }}{{ .%s }}:{{ .%s }}{{ end }}\n", secretsPath, secrets.ItemUser, secrets.ItemPassword)

	probe := b.poolctlTask(contract.ProbeTask, "wallet", []string{
		"probe",
		"--rpc=${NOMAD_ADDR_rpc}",
		"--p2p=${NOMAD_ADDR_p2p}",
		"--listen=${NOMAD_ADDR_probe}",
		"--credentials=${NOMAD_SECRETS_DIR}/rpc.credentials",
		"--wallet-service=" + contract.WalletService(coin.Name),
		"--p2p-service=" + contract.WalletP2PService(coin.Name),
		"--wallet-name=" + WalletName,
		"--max-lag-blocks=" + strconv.Itoa(w.MaxLagBlocks),
		"--max-tip-age=" + w.MaxTipAge,
		"--backups-dir=" + path.Join(datadir, WalletBackupDir),
		"--backup-login-file=${NOMAD_SECRETS_DIR}/backup.login",
		"--hd-seed-file=${NOMAD_SECRETS_DIR}/" + HDSeedFile,
	}, 100, 64)
	probe.Lifecycle = &api.TaskLifecycle{Hook: "poststart", Sidecar: true}
	// The backup job's own wallet login (in clear in the wallet's
	// variable, as deploy made it): the probe serves the wallet's copies
	// to that login only.
	backupLogin := fmt.Sprintf("{{ with nomadVar %q }}{{ .%s }}:{{ .%s }}{{ end }}\n", secretsPath,
		secrets.WalletLoginItem(secrets.ItemUser, contract.KindBackup), secrets.WalletLoginItem(secrets.ItemPassword, contract.KindBackup))
	// The pool's HD seed, from a variable only this task may read: every
	// instance's wallet holds the pool's keys, so any of them can vouch
	// for the pool address and pay from it.
	seed := fmt.Sprintf("{{ with nomadVar %q }}{{ .%s }}{{ end }}\n", contract.WalletSeedPath(coin.Name), secrets.ItemHDSeed)
	probe.Templates = []*api.Template{
		secretTemplate("secrets/rpc.credentials", credentials),
		secretTemplate("secrets/backup.login", backupLogin),
		secretTemplate("secrets/"+HDSeedFile, seed),
	}
	// Read-only: the probe serves the copies the daemon wrote and must
	// not be able to touch the chain.
	probe.VolumeMounts = []*api.VolumeMount{{Volume: ptr(w.Volume), Destination: ptr(ChainMount), ReadOnly: ptr(true)}}
	probe.KillTimeout = ptr(5 * time.Second)

	check := func(name, path string) api.ServiceCheck {
		return api.ServiceCheck{
			Name:      name,
			Type:      "http",
			PortLabel: "probe",
			Path:      path,
			Interval:  time.Second,
			Timeout:   time.Second,
		}
	}
	live := check(CheckLive, "/v1/live")
	live.CheckRestart = &api.CheckRestart{Limit: 2, Grace: ptr(startup), IgnoreWarnings: true}
	// A deployment waits for the daemon to answer, not for it to be in
	// sync: a new pool's wallets download the chain for days, out of
	// service (critical) meanwhile, and deploy reports their progress.
	sync := check(CheckSync, "/v1/sync")
	sync.OnUpdate = "ignore"
	group := &api.TaskGroup{
		Name:             ptr(contract.WalletGroup),
		Count:            ptr(w.Instances),
		Spreads:          spreadOverNodes(),
		Volumes:          hostVolume(w.Volume, false),
		ShutdownDelay:    ptr(2 * time.Second),
		RestartPolicy:    restart(5, 10*time.Minute, 2*time.Second, "fail"),
		ReschedulePolicy: rescheduleForever(30*time.Second, 10*time.Minute),
		EphemeralDisk:    &api.EphemeralDisk{SizeMB: ptr(150)},
		Networks: []*api.NetworkResource{{
			DynamicPorts: []api.Port{{Label: "rpc"}, {Label: "p2p"}, {Label: "probe"}},
		}},
		Services: []*api.Service{
			{
				Name:      contract.WalletService(coin.Name),
				PortLabel: "rpc",
				Provider:  "consul",
				Tags:      []string{coin.Network, "rpc"},
				Meta: map[string]string{
					"coin": coin.Name, "network": coin.Network,
					"instance":               "${NOMAD_ALLOC_INDEX}",
					contract.WalletProbeMeta: "${NOMAD_ADDR_probe}",
				},
				Checks: []api.ServiceCheck{live, sync},
			},
			{
				Name:      contract.WalletP2PService(coin.Name),
				PortLabel: "p2p",
				Provider:  "consul",
				Tags:      []string{coin.Network, "p2p"},
				Meta:      map[string]string{"coin": coin.Name, "network": coin.Network, "instance": "${NOMAD_ALLOC_INDEX}"},
				Checks: []api.ServiceCheck{{
					Name:     "p2p port open",
					Type:     "tcp",
					Interval: 10 * time.Second,
					Timeout:  2 * time.Second,
				}},
			},
		},
		Tasks: []*api.Task{
			{
				Name:      "datadir",
				Driver:    "exec",
				User:      "nobody",
				Lifecycle: &api.TaskLifecycle{Hook: "prestart"},
				Config: map[string]any{
					"command": "/bin/mkdir",
					// backups: where the backup job has the daemon write
					// copies of its wallet (backupwallet writes on this node).
					"args": []string{"-p", datadir, path.Join(datadir, WalletBackupDir)},
				},
				VolumeMounts: []*api.VolumeMount{{Volume: ptr(w.Volume), Destination: ptr(ChainMount)}},
				Resources:    &api.Resources{CPU: ptr(50), MemoryMB: ptr(16)},
				LogConfig:    &api.LogConfig{MaxFiles: ptr(1), MaxFileSizeMB: ptr(1)},
			},
			{
				Name:   "daemon",
				Driver: "exec",
				User:   "nobody",
				// poolctl runs the daemon as its child and rebuilds a block
				// database the daemon will not open (walletstart).
				Config: map[string]any{
					"command": b.pool.Settings.Poolctl,
					"args": append([]string{"wallet", "daemon", "--name=" + coin.Name + "/${NOMAD_ALLOC_INDEX}", "--", w.Command},
						args...),
				},
				Templates:    []*api.Template{secretTemplate("secrets/litecoin.conf", conf)},
				VolumeMounts: []*api.VolumeMount{{Volume: ptr(w.Volume), Destination: ptr(ChainMount)}},
				Resources:    &api.Resources{CPU: ptr(w.CPUMHz), MemoryMB: ptr(w.MemoryMB)},
				KillTimeout:  ptr(walletKillTimeout(coin.Network)),
				KillSignal:   "SIGTERM",
				LogConfig:    smallLogs(),
			},
			probe,
		},
	}
	job.TaskGroups = []*api.TaskGroup{group}
	return &Job{
		Job:        job,
		Kind:       KindWallet,
		Coin:       coin.Name,
		Stage:      StageWallets,
		Subcommand: "wallet",
		Services:   []string{contract.WalletService(coin.Name), contract.WalletP2PService(coin.Name)},
		Source:     config.BlockRange(w.Body, coin.NameRange),
		Notes: nomadhcl.Notes{
			"priority": "Wallets outrank everything else: without one the pool cannot build work or pay.",
			"update": "One wallet at a time, and only after the new one is in sync: the other\n" +
				"instance keeps serving work to the stratum servers during an upgrade.",
			"group.wallet/spread": "Instances on different nodes where there are several, so one power cut\n" +
				"takes at most one wallet.",
			"group.wallet/restart": "A crashed wallet restarts in place quickly: its chain data is on this\n" +
				"node. Five failures in ten minutes point at the node (disk, memory), so\n" +
				"the allocation fails and is rescheduled elsewhere.",
			"group.wallet/reschedule": "Never give up on a wallet, but back off so that a broken binary or\n" +
				"datadir does not thrash the cluster.",
			"group.wallet/shutdown_delay": "Deregister from Consul before stopping, so stratum servers switch to\n" +
				"the other wallet before this one goes away.",
			"group.wallet/service." + contract.WalletService(coin.Name) + "/check." + CheckLive: "The probe answers from its last poll, at once even when the wallet\n" +
				"hangs: a hung wallet keeps its port open but stops answering RPC, which\n" +
				"a TCP check would never see. check_restart restarts it after two\n" +
				"failures in a row; the grace covers start-up (block verification).",
			"group.wallet/service." + contract.WalletService(coin.Name) + "/check." + CheckSync: "Lagging, in initial block download, stuck on an old tip: out of\n" +
				"service (critical) while it catches up, and not restarted, which would\n" +
				"only start the catching up over. A few blocks behind is a warning.",
			"group.wallet/task.datadir": "Each instance keeps its chain in its own directory of the host volume,\n" +
				"never in the allocation directory, so a restart does not resync.",
			"group.wallet/task.daemon": "poolctl runs the daemon as its child: when a kill mid-write left the\n" +
				"block database corrupt, it restarts the daemon with -reindex-chainstate\n" +
				"(or -reindex for the block index) instead of failing until a person\n" +
				"moves the chain aside; the other instance serves meanwhile.",
			"group.wallet/task.daemon/kill_timeout": "The daemon flushes its chain state on SIGTERM; an unclean stop costs a\n" +
				"replay of recent blocks at the next start. A hung daemon ignores\n" +
				"SIGTERM, so this also bounds how long a hang lasts.",
			"group.wallet/task.daemon/template": "RPC credentials come from a Nomad variable that poolctl deploy creates:\n" +
				"never in this file, pool.hcl, Consul or logs. Rendered only for the\n" +
				"task's user (nobody), and not re-rendered into a restart of every\n" +
				"instance at once.",
			"group.wallet/task.probe": "The health probe beside the daemon: it serves the checks above, keeps\n" +
				"the wallets peered through Consul, and loads the pool's wallet. It also\n" +
				"serves the wallet copies the backup job has the daemon write, to the\n" +
				"backup job's login only, so that they are kept off this node too; it\n" +
				"mounts the chain volume read-only for that.",
		},
	}
}

// secretTemplate renders data into a file only the tasks' user (nobody)
// can read. A change (credentials rotated, peers moved) is written but does
// not restart the task: restarting every instance at once would take the
// coin's wallets down together.
func secretTemplate(dest, data string) *api.Template {
	return &api.Template{
		DestPath:     ptr(dest),
		EmbeddedTmpl: ptr(data),
		ChangeMode:   ptr("noop"),
		Perms:        ptr("0400"),
		Uid:          ptr(NobodyID),
		Gid:          ptr(NobodyID),
	}
}
