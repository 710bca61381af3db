package jobspec

import (
	"fmt"
	"strconv"
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/scryptpool/poolmicrocloud/tools/internal/config"
	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
	"github.com/scryptpool/poolmicrocloud/tools/internal/nomadhcl"
	"github.com/scryptpool/poolmicrocloud/tools/internal/secrets"
)

// StratumSecretsPath is the Nomad variable holding what a coin's stratum
// servers log in with: the wallets' RPC credentials and the database's.
// poolctl deploy copies them there from the wallets' and the database's
// variables, so each job reads only its own.
func StratumSecretsPath(coin string) string {
	return contract.VariablePath(contract.JobID("", coin, string(KindStratum)))
}

func (b builder) stratum(coin *config.Coin) *Job {
	s := coin.Stratum
	job := b.newJob(coin.Name, KindStratum, "service", 70)
	job.Update = oneAtATime("checks", 10*time.Second, 2*time.Minute, 5*time.Minute)
	args := []string{
		"--pool=" + b.pool.Name,
		"--coin=" + coin.Name,
		"--network=" + coin.Network,
		"--listen=${NOMAD_ADDR_stratum}",
		"--metrics-listen=${NOMAD_ADDR_metrics}",
		"--wallet-service=" + contract.WalletService(coin.Name),
		"--credentials=${NOMAD_SECRETS_DIR}/wallet.credentials",
		"--database-service=" + DatabaseService(b.pool),
		"--database-credentials=${NOMAD_SECRETS_DIR}/database.credentials",
		"--stratum-service=" + contract.StratumService(coin.Name),
		"--fee-percent=" + formatFloat(s.FeePercent),
		"--difficulty=" + formatFloat(s.Difficulty.Start),
		"--min-difficulty=" + formatFloat(s.Difficulty.Min),
		"--max-difficulty=" + formatFloat(s.Difficulty.Max),
		"--target-share-seconds=" + strconv.Itoa(s.Difficulty.TargetShareSeconds),
		"--share-journal=${NOMAD_TASK_DIR}/share-journal",
	}
	if f := b.pool.Cluster.FloatingAddress; f != "" {
		args = append(args, "--floating-address="+f)
	}
	task := b.poolctlTask("stratum", "stratum", args, s.CPUMHz, s.MemoryMB)
	secretsPath := StratumSecretsPath(coin.Name)
	task.Templates = []*api.Template{
		secretTemplate("secrets/wallet.credentials", fmt.Sprintf("{{ with nomadVar %q }}{{ .%s }}:{{ .%s }}{{ end }}\n", secretsPath, secrets.ItemUser, secrets.ItemPassword)),
		secretTemplate("secrets/database.credentials", fmt.Sprintf("{{ with nomadVar %q }}{{ .%s }}:{{ .%s }}{{ end }}\n", secretsPath, secrets.ItemDatabaseUser, secrets.ItemDatabasePassword)),
	}
	task.KillSignal = "SIGTERM"
	task.KillTimeout = ptr(30 * time.Second)
	group := &api.TaskGroup{
		Name:             ptr("stratum"),
		Count:            ptr(s.Instances),
		Spreads:          spreadOverNodes(),
		ShutdownDelay:    ptr(10 * time.Second),
		RestartPolicy:    restart(5, 5*time.Minute, 5*time.Second, "fail"),
		ReschedulePolicy: rescheduleForever(15*time.Second, 5*time.Minute),
		EphemeralDisk:    &api.EphemeralDisk{SizeMB: ptr(100), Sticky: ptr(true), Migrate: ptr(true)},
		Networks: []*api.NetworkResource{{
			ReservedPorts: []api.Port{{Label: "stratum", Value: s.Port}},
			DynamicPorts:  []api.Port{{Label: "metrics"}},
		}},
		Services: []*api.Service{{
			Name:      contract.StratumService(coin.Name),
			PortLabel: "stratum",
			Provider:  "consul",
			Tags:      []string{coin.Network, "stratum"},
			Meta:      map[string]string{"coin": coin.Name, "network": coin.Network},
			Checks: []api.ServiceCheck{
				{
					Name:     "stratum port open",
					Type:     "tcp",
					Interval: 10 * time.Second,
					Timeout:  2 * time.Second,
					CheckRestart: &api.CheckRestart{
						Limit: 3,
						Grace: ptr(30 * time.Second),
					},
				},
				// Subscribes as a miner would and waits for work, so it fails
				// while no wallet is in service; no check_restart: a restart
				// would not bring a wallet back and would drop every miner.
				// Up without work (no wallet in service yet) is a warning,
				// which a deployment accepts: a new pool's stratum servers
				// are deployed while its wallets download the chain.
				{
					Name:      "stratum answers",
					Type:      "http",
					PortLabel: "metrics",
					Path:      "/v1/check",
					Interval:  10 * time.Second,
					Timeout:   5 * time.Second,
					OnUpdate:  "ignore_warnings",
				},
			},
		}, {
			Name:      contract.StratumMetricsService(coin.Name),
			PortLabel: "metrics",
			Provider:  "consul",
			Tags:      []string{"prometheus"},
			Meta:      map[string]string{"coin": coin.Name, "metrics_path": "/metrics"},
			Checks: []api.ServiceCheck{{
				Name:     "metrics served",
				Type:     "http",
				Path:     "/metrics",
				Interval: 30 * time.Second,
				Timeout:  5 * time.Second,
			}},
		}},
		Tasks: []*api.Task{task},
	}
	job.TaskGroups = []*api.TaskGroup{group}
	return &Job{
		Job:        job,
		Kind:       KindStratum,
		Coin:       coin.Name,
		Stage:      StageStratum,
		Subcommand: "stratum",
		Services:   []string{contract.StratumService(coin.Name), contract.StratumMetricsService(coin.Name)},
		Source:     config.BlockRange(s.Body, coin.NameRange),
		Notes: nomadhcl.Notes{
			"update": "One stratum server at a time: miners reconnect to the other instance\n" +
				"(client.reconnect) while this one is replaced.",
			"group.stratum/network": "A static port on every node it runs on, the address miners configure;\n" +
				"two instances therefore never share a node.",
			"group.stratum/shutdown_delay": "Leave Consul first, then get SIGTERM: the server sends client.reconnect\n" +
				"and drains, so miners move without losing shares. With a floating address,\n" +
				"keepalived has moved it off this node by then (its check fails within 6 s),\n" +
				"and client.reconnect sends miners to it.",
			"group.stratum/restart": "Restarting in place is cheap (and keeps the share journal). Five failures\n" +
				"in five minutes point at the node, so the allocation moves.",
			"group.stratum/ephemeral_disk": "The share journal lives in the task's local/: a share is answered\n" +
				"\"accepted\" only once it is on disk there. After a power cut the restarted\n" +
				"task writes what the database never got; a replacement allocation prefers\n" +
				"this node (sticky) or copies the journal from it (migrate). Not alloc/data:\n" +
				"after a node reboots, Nomad restores the allocation without mounting alloc/\n" +
				"into the task again, and the journal would not be found.",
		},
	}
}

// formatFloat writes f as Go templates print numbers (%v), so that the
// nomad-pack renders the same arguments.
func formatFloat(f float64) string { return fmt.Sprint(f) }
