package jobspec

import (
	"fmt"
	"path"
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/scryptpool/poolmicrocloud/tools/internal/config"
	"github.com/scryptpool/poolmicrocloud/tools/internal/nomadhcl"
)

// ChainMount is where a wallet's host volume appears inside its task.
const ChainMount = "/chain"

// WalletService is the Consul service of a coin's wallet RPC endpoints.
func WalletService(coin string) string { return coin + "-wallet" }

// WalletP2PService is the Consul service of a coin's wallet peer-to-peer
// endpoints, which the wallets use to find each other.
func WalletP2PService(coin string) string { return coin + "-wallet-p2p" }

// walletStartup is how long a wallet may take to open its chain state before
// Nomad counts it unhealthy. On mainnet a Pi verifies recent blocks at start
// for minutes; a regtest chain opens in seconds.
func walletStartup(network string) time.Duration {
	if network == "regtest" {
		return time.Minute
	}
	return 15 * time.Minute
}

func (b builder) wallet(coin *config.Coin) *Job {
	w := coin.Wallet
	job := b.newJob(coin.Name, KindWallet, "service", 80)
	startup := walletStartup(coin.Network)
	job.Update = oneAtATime("checks", 30*time.Second, startup, startup+10*time.Minute)
	job.Update.Stagger = ptr(30 * time.Second)
	datadir := path.Join(ChainMount, "${NOMAD_ALLOC_INDEX}")
	network := []string{}
	switch coin.Network {
	case "regtest":
		network = []string{"-regtest"}
	case "testnet":
		network = []string{"-testnet"}
	}
	rpcArgs := append(append([]string{}, network...),
		"-datadir="+datadir,
		"-rpcconnect=${NOMAD_IP_rpc}",
		"-rpcport=${NOMAD_PORT_rpc}",
		"-rpcclienttimeout=4",
	)
	args := append(append([]string{}, network...),
		"-datadir="+datadir,
		"-server=1",
		"-printtoconsole=1",
		"-nodebuglogfile",
		"-bind=${NOMAD_IP_p2p}:${NOMAD_PORT_p2p}",
		"-rpcbind=${NOMAD_IP_rpc}",
		"-rpcport=${NOMAD_PORT_rpc}",
		// The node's own address: checks and local stratum servers
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
		"-upnp=0",
		"-listenonion=0",
	)
	if w.PruneMB > 0 {
		args = append(args, fmt.Sprintf("-prune=%d", w.PruneMB))
	}
	group := &api.TaskGroup{
		Name:             ptr("wallet"),
		Count:            ptr(w.Instances),
		Spreads:          spreadOverNodes(),
		Volumes:          hostVolume(w.Volume, false),
		ShutdownDelay:    ptr(5 * time.Second),
		RestartPolicy:    restart(3, 10*time.Minute, 15*time.Second, "fail"),
		ReschedulePolicy: rescheduleForever(30*time.Second, 10*time.Minute),
		EphemeralDisk:    &api.EphemeralDisk{SizeMB: ptr(150)},
		Networks: []*api.NetworkResource{{
			DynamicPorts: []api.Port{{Label: "rpc"}, {Label: "p2p"}},
		}},
		Services: []*api.Service{
			{
				Name:      WalletService(coin.Name),
				PortLabel: "rpc",
				Provider:  "consul",
				Tags:      []string{coin.Network, "rpc"},
				Meta:      map[string]string{"coin": coin.Name, "network": coin.Network, "instance": "${NOMAD_ALLOC_INDEX}"},
				Checks: []api.ServiceCheck{{
					Name:     "rpc answers",
					Type:     "script",
					TaskName: "daemon",
					Command:  "/usr/bin/" + cliName(coin),
					Args:     append(rpcArgs, "getblockchaininfo"),
					Interval: 10 * time.Second,
					Timeout:  5 * time.Second,
					CheckRestart: &api.CheckRestart{
						Limit:          3,
						Grace:          ptr(startup),
						IgnoreWarnings: true,
					},
				}},
			},
			{
				Name:      WalletP2PService(coin.Name),
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
					"args":    []string{"-p", datadir},
				},
				VolumeMounts: []*api.VolumeMount{{Volume: ptr(w.Volume), Destination: ptr(ChainMount)}},
				Resources:    &api.Resources{CPU: ptr(50), MemoryMB: ptr(16)},
				LogConfig:    &api.LogConfig{MaxFiles: ptr(1), MaxFileSizeMB: ptr(1)},
			},
			{
				Name:   "daemon",
				Driver: "exec",
				User:   "nobody",
				Config: map[string]any{
					"command": w.Command,
					"args":    args,
				},
				VolumeMounts: []*api.VolumeMount{{Volume: ptr(w.Volume), Destination: ptr(ChainMount)}},
				Resources:    &api.Resources{CPU: ptr(w.CPUMHz), MemoryMB: ptr(w.MemoryMB)},
				KillTimeout:  ptr(2 * time.Minute),
				KillSignal:   "SIGTERM",
				LogConfig:    smallLogs(),
			},
		},
	}
	job.TaskGroups = []*api.TaskGroup{group}
	return &Job{
		Job:      job,
		Kind:     KindWallet,
		Coin:     coin.Name,
		Stage:    StageWallets,
		Services: []string{WalletService(coin.Name), WalletP2PService(coin.Name)},
		Source:   config.BlockRange(w.Body, coin.NameRange),
		Notes: nomadhcl.Notes{
			"priority": "Wallets outrank everything else: without one the pool cannot build work or pay.",
			"update": "One wallet at a time, and only after the new one answers RPC: the other\n" +
				"instance keeps serving work to the stratum servers during an upgrade.",
			"group.wallet/spread": "Instances on different nodes where there are several, so one power cut\n" +
				"takes at most one wallet.",
			"group.wallet/restart": "A crashed wallet restarts in place quickly: its chain data is on this\n" +
				"node. Three crashes in ten minutes point at the node (disk, memory), so\n" +
				"the allocation fails and is rescheduled elsewhere.",
			"group.wallet/reschedule": "Never give up on a wallet, but back off so that a broken binary or\n" +
				"datadir does not thrash the cluster.",
			"group.wallet/shutdown_delay": "Deregister from Consul before stopping, so stratum servers switch to\n" +
				"the other wallet before this one goes away.",
			"group.wallet/service." + WalletService(coin.Name) + "/check.rpc answers": "A hung wallet keeps its port open but stops answering RPC; the script\n" +
				"check times out, and check_restart restarts the task after three\n" +
				"failures. The grace covers start-up (block verification).",
			"group.wallet/task.datadir": "Each instance keeps its chain in its own directory of the host volume,\n" +
				"never in the allocation directory, so a restart does not resync.",
			"group.wallet/task.daemon/kill_timeout": "The daemon flushes its chain state on SIGTERM; killing it mid-flush\n" +
				"forces a reindex that takes a Pi days.",
		},
	}
}

// cliName is the RPC client shipped beside the daemon ("litecoin-cli").
func cliName(coin *config.Coin) string {
	return coin.Chain + "-cli"
}
