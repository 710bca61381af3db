package cli

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/scryptpool/poolmicrocloud/tools/internal/binaries"
	"github.com/scryptpool/poolmicrocloud/tools/internal/cluster"
)

func defaultStateDir() string {
	if d := os.Getenv("POOLCTL_DEV_STATE"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "poolctl", "dev")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ".poolctl-dev"
	}
	return filepath.Join(home, ".local", "state", "poolctl", "dev")
}

func stateDirFlag() cli.Flag {
	return &cli.StringFlag{
		Name:    "state-dir",
		Usage:   "where the dev cluster keeps its agents' data, logs and host volumes",
		EnvVars: []string{"POOLCTL_DEV_STATE"},
		Value:   defaultStateDir(),
	}
}

func devCommand() *cli.Command {
	return &cli.Command{
		Name:  "dev",
		Usage: "a local cluster of real Nomad and Consul agents to run the pool on",
		Subcommands: []*cli.Command{
			{
				Name:      "up",
				Usage:     "start the dev cluster shaped like the pool definition's cluster model",
				ArgsUsage: "[FILE]",
				Description: "Starts real Consul and Nomad agents shaped like the pool's cluster model\n" +
					"(exec and raw_exec, the pool's host volumes where the model puts them, each\n" +
					"node's CPU and memory from the cluster block): one node runs on 127.0.0.1;\n" +
					"several, or --nodes N Pi-sized clients beside --servers S servers, each get\n" +
					"an address of their own (198.18.x.y on a veth pair) and their own Consul\n" +
					"agent. Builds the pinned nomad and consul first if needed, and prints\n" +
					"NOMAD_ADDR and CONSUL_HTTP_ADDR. Needs root (the exec driver).",
				Flags: []cli.Flag{
					stateDirFlag(),
					&cli.IntFlag{Name: "nodes", Usage: "start this many Pi-sized clients instead of the pool's cluster model (each with every host volume)"},
					&cli.IntFlag{Name: "servers", Value: 1, Usage: "with --nodes: server-only agents beside the clients (1, 3 or 5)"},
					&cli.IntFlag{Name: "node-cpu-mhz", Value: 4800, Usage: "with --nodes: each client's CPU (a Pi 3: 4 x 1200 MHz)"},
					&cli.IntFlag{Name: "node-memory-mb", Value: 1024, Usage: "with --nodes: each client's memory (a Pi 3: 1 GiB)"},
					// Tests run dev clusters beside the operator's: -1 takes
					// the first free slot of 198.18.N.0 addresses.
					&cli.IntFlag{Name: "slot", Value: 0, Hidden: true},
				},
				Action: func(c *cli.Context) error {
					if running, err := cluster.Load(c.String("state-dir"), c.App.ErrWriter); err == nil && running.Running() {
						fmt.Fprintf(c.App.ErrWriter, "the dev cluster in %s is already running\n", running.StateDir)
						printEnv(c, running)
						return nil
					}
					r, err := runValidate(poolFile(c), true, c.App.Writer, c.App.ErrWriter)
					if err != nil {
						return err
					}
					nomadBin, err := binaries.Ensure(c.Context, binaries.Nomad, c.App.ErrWriter)
					if err != nil {
						return err
					}
					consulBin, err := binaries.Ensure(c.Context, binaries.Consul, c.App.ErrWriter)
					if err != nil {
						return err
					}
					self, err := os.Executable()
					if err != nil {
						return err
					}
					clients := cluster.ModelClients(r.Pool, r.Jobs)
					servers := 0
					if len(clients) > 1 {
						servers = 1
					}
					if n := c.Int("nodes"); n > 0 {
						clients = cluster.PiClients(n, c.Int("node-cpu-mhz"), c.Int("node-memory-mb"), r.Jobs)
						servers = c.Int("servers")
					}
					dc, err := cluster.Up(c.Context, cluster.Spec{
						StateDir:   c.String("state-dir"),
						Slot:       c.Int("slot"),
						Datacenter: r.Pool.Settings.Datacenter,
						Region:     r.Pool.Settings.Region,
						Clients:    clients,
						Servers:    servers,
						Poolctl:    self,
						PoolctlDir: path.Dir(r.Pool.Settings.Poolctl),
						NomadBin:   nomadBin,
						ConsulBin:  consulBin,
						Log:        c.App.ErrWriter,
					})
					if err != nil {
						return err
					}
					printEnv(c, dc)
					return nil
				},
			},
			{
				Name:  "down",
				Usage: "stop the dev cluster: jobs first, then agents; nothing left running or bound",
				Flags: []cli.Flag{
					stateDirFlag(),
					&cli.BoolFlag{Name: "purge", Usage: "also delete the state directory (chain data, database, logs)"},
				},
				Action: func(c *cli.Context) error {
					dc, err := cluster.Load(c.String("state-dir"), c.App.ErrWriter)
					if errors.Is(err, cluster.ErrNoCluster) {
						fmt.Fprintf(c.App.ErrWriter, "no dev cluster in %s: nothing to stop\n", c.String("state-dir"))
						return nil
					}
					if err != nil {
						return err
					}
					if err := dc.Down(c.Context); err != nil {
						return err
					}
					fmt.Fprintln(c.App.ErrWriter, "dev cluster stopped")
					if c.Bool("purge") {
						return dc.RemoveState()
					}
					return nil
				},
			},
			{
				Name:  "status",
				Usage: "show whether the dev cluster runs, where, and its host volumes",
				Flags: []cli.Flag{stateDirFlag()},
				Action: func(c *cli.Context) error {
					dc, err := cluster.Load(c.String("state-dir"), c.App.ErrWriter)
					if err != nil {
						return err
					}
					fmt.Fprint(c.App.Writer, dc.Status())
					if !dc.Running() {
						return withCode(ExitRuntime, fmt.Errorf("the dev cluster in %s is not running", dc.StateDir))
					}
					return nil
				},
			},
			{
				Name:  "env",
				Usage: "print export lines for NOMAD_ADDR and CONSUL_HTTP_ADDR: eval \"$(poolctl dev env)\"",
				Flags: []cli.Flag{stateDirFlag()},
				Action: func(c *cli.Context) error {
					dc, err := cluster.Load(c.String("state-dir"), c.App.ErrWriter)
					if err != nil {
						return err
					}
					printEnv(c, dc)
					return nil
				},
			},
		},
	}
}

func printEnv(c *cli.Context, dc *cluster.Cluster) {
	fmt.Fprintf(c.App.Writer, "export NOMAD_ADDR=%s\nexport CONSUL_HTTP_ADDR=%s\n", dc.NomadAddr(), dc.ConsulAddr())
}
