// Command bench-powercut measures what a power cut of the whole cluster
// costs the pool, with the agents set as ansible/ sets the Pis beside
// Nomad's and Consul's default agent settings, in one run.
//
// For each of the two settings it starts a cluster shaped as the Pis are
// (four nodes, three of them Nomad and Consul servers and clients too,
// Consul's state on disk), deploys the dev example on it (two wallets,
// the stratum server with its share journal, the database on two Patroni
// members with a synchronous standby, the periodic jobs) and, with a
// miner mining, takes it through:
//
//   - all back: every node loses power at once (every agent and task
//     killed, mounts and cgroups gone) and comes back in a random order,
//     up to 5 s apart;
//   - flapping: cut again while the servers elect their leaders, again
//     while the database's members start, then back for good;
//   - during a payout: the power goes as soon as a payout's intent is
//     written; the next payout run must settle it, once;
//   - never returns: the database primary's node, a server, never comes
//     back (a stratum server there is moved off it first).
//
// The wallets keep a regtest litecoind outside the cluster as their peer
// (the pool definition's peers), as on mainnet they have the Internet.
//
// For each it prints, counted from the last node's power coming back:
// seconds to the first share accepted, seconds until every job is healthy
// again, the shares acknowledged before the cut and missing after it, and
// payouts doubled or lost (the ledger against every wallet instance).
// Targets, judged for the Pis' settings: work served again within 2
// minutes, 0 shares lost, 0 payouts doubled or lost. Nothing is typed
// between the cut and the figures.
//
// Run it as root from the repository's top directory: `task
// bench:powercut` (about half an hour; `-settings pis` or `-settings
// defaults` runs one of the two clusters, in half the time). Exit codes: 0
// every target met, 1 a target missed or not measured (the figures are
// printed all the same) or the run failed, 2 a bad flag.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/scryptpool/poolmicrocloud/tools/internal/binaries"
	"github.com/scryptpool/poolmicrocloud/tools/internal/cluster"
	"github.com/scryptpool/poolmicrocloud/tools/internal/config"
	"github.com/scryptpool/poolmicrocloud/tools/internal/jobspec"
	"github.com/scryptpool/poolmicrocloud/tools/internal/powercut"
	"github.com/scryptpool/poolmicrocloud/tools/internal/verdict"
)

const example = "examples/dev/pool.hcl"

// servedWithin is the target for work served again after the last node's
// power came back.
const servedWithin = 2 * time.Minute

type row struct {
	settings string
	pis      bool
	res      powercut.Result
	err      error
}

func main() {
	seed := flag.Uint64("seed", uint64(time.Now().UnixNano()), "seed of the order and delays the nodes come back with")
	patience := flag.Duration("patience", 6*time.Minute, "how long to wait for any one recovery")
	only := flag.String("settings", "both", "which agent settings to measure: pis, defaults or both (the targets are judged with both)")
	flag.Parse()
	settings := map[string][]bool{"both": {true, false}, "pis": {true}, "defaults": {false}}[*only]
	if settings == nil {
		fmt.Fprintf(os.Stderr, "bench-powercut: -settings is pis, defaults or both, not %q\n", *only)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *seed, *patience, settings); err != nil {
		fmt.Fprintln(os.Stderr, "bench-powercut:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, seed uint64, patience time.Duration, settings []bool) error {
	started := time.Now()
	if os.Geteuid() != 0 {
		return fmt.Errorf("run as root: the cluster's nodes have addresses and cgroups of their own")
	}
	nomadBin, consulBin, err := binaries.EnsureAgents(ctx, os.Stderr)
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "bench-powercut-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	poolctl, err := binaries.BuildPoolctl(work)
	if err != nil {
		return err
	}
	if _, err := os.Stat(example); err != nil {
		return fmt.Errorf("run from the repository's top directory: %w", err)
	}

	var rows []row
	for _, pis := range settings {
		settings := "Pis (ansible/)"
		if !pis {
			settings = "Nomad/Consul defaults"
		}
		fmt.Fprintf(os.Stderr, "=== agent settings: %s\n", settings)
		got, err := measure(ctx, work, poolctl, nomadBin, consulBin, !pis, seed, patience)
		for _, r := range got {
			rows = append(rows, row{settings: settings, pis: pis, res: r.res, err: r.err})
		}
		if err != nil {
			rows = append(rows, row{settings: settings, pis: pis, err: err})
		}
	}
	fmt.Println()
	err = report(rows)
	fmt.Printf("\nseed %d; run took %s\n", seed, time.Since(started).Round(time.Second))
	return err
}

// measure runs the scenarios on a fresh cluster with one agent setting.
// "never returns" comes last: its node stays off.
func measure(ctx context.Context, work, poolctl, nomadBin, consulBin string, defaults bool, seed uint64, patience time.Duration) ([]row, error) {
	name := "pis"
	if defaults {
		name = "defaults"
	}
	poolDir := filepath.Join(work, name+"-pool")
	if err := os.Mkdir(poolDir, 0o755); err != nil {
		return nil, err
	}
	// The wallets' peer outside the cluster, as on mainnet they have the
	// Internet: one left alone by a node that never returns still has a
	// peer and serves work. Each cluster has its own: a regtest chain is
	// the pool's own, and one cluster's wallets would take up the other's.
	internet, err := powercut.Internet(ctx, os.Stderr)
	if err != nil {
		return nil, err
	}
	defer internet.Stop()
	poolPath, err := powercut.WriteVariant(example, poolDir, 4, 3, 2, 3, internet.P2PAddr)
	if err != nil {
		return nil, err
	}
	pool, _, diags := config.Load(poolPath)
	if diags.HasErrors() {
		return nil, fmt.Errorf("%s: %s", poolPath, diags.Error())
	}
	jobs := jobspec.Render(pool)
	c, err := cluster.Up(ctx, cluster.Spec{
		StateDir: filepath.Join(work, name), Slot: -1,
		Datacenter: pool.Settings.Datacenter, Region: pool.Settings.Region,
		Clients: powercut.Clients(pool, jobs, 4, 3), Servers: 3, Production: true, DefaultAgentSettings: defaults,
		Poolctl: poolctl, PoolctlDir: filepath.Dir(pool.Settings.Poolctl),
		NomadBin: nomadBin, ConsulBin: consulBin, Log: os.Stderr,
	})
	if err != nil {
		return nil, err
	}
	defer func() {
		if err := c.Down(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, "stop the cluster:", err)
		}
	}()
	deploy := exec.CommandContext(ctx, poolctl, "deploy", "--address", c.NomadAddr(), "--consul-address", c.ConsulAddr(), poolPath)
	deploy.Env = append(os.Environ(), "NOMAD_TOKEN=", "CONSUL_HTTP_TOKEN=")
	deploy.Stdout, deploy.Stderr = os.Stderr, os.Stderr
	if err := deploy.Run(); err != nil {
		return nil, fmt.Errorf("deploy: %w", err)
	}
	nomad, err := c.NomadClient()
	if err != nil {
		return nil, err
	}
	consul, err := c.ConsulClient()
	if err != nil {
		return nil, err
	}
	var address string
	deadline := time.Now().Add(3 * time.Minute)
	for address == "" {
		if address, err = powercut.MinerAddress(ctx, nomad, consul, "ltc"); err != nil && time.Now().After(deadline) {
			return nil, fmt.Errorf("a miner's address: %w", err)
		}
		if address == "" {
			time.Sleep(time.Second)
		}
	}
	p, err := powercut.New(ctx, c, pool, "ltc", address)
	if err != nil {
		return nil, err
	}
	p.Wait = patience
	p.Log = func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }

	var rows []row
	for _, s := range []func() (powercut.Scenario, error){
		// The payout first, on a fresh pool, as its test runs it.
		func() (powercut.Scenario, error) { return powercut.DuringPayout, nil },
		func() (powercut.Scenario, error) { return powercut.AllBack, nil },
		func() (powercut.Scenario, error) { return powercut.Flapping, nil },
		func() (powercut.Scenario, error) {
			victim, err := p.ServerToLose(ctx)
			return powercut.NeverReturns(victim), err
		},
	} {
		sc, err := s()
		if err != nil {
			return rows, err
		}
		fmt.Fprintf(os.Stderr, "--- %s, %s\n", sc.Name, name)
		res, err := p.Run(ctx, sc, seed)
		rows = append(rows, row{res: res, err: err})
		if err != nil {
			// The pool did not recover by itself: the next scenario
			// would measure this one's leftovers.
			return rows, nil
		}
	}
	return rows, nil
}

func report(rows []row) error {
	var judge verdict.Judge
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\tagent settings\tfirst share\tevery job healthy\tshares acked before\tshares lost\tpayouts sent\tpayouts doubled/lost\tverdict")
	for _, r := range rows {
		if r.res.Scenario == "" {
			fmt.Fprintf(tw, "(run)\t%s\t-\t-\t-\t-\t-\t-\tfailed: %v\n", r.settings, r.err)
			if r.pis {
				judge.Check("the run with the Pis' settings", false, false)
			}
			continue
		}
		first, healthy := seconds(r.res.FirstShare), seconds(r.res.AllHealthy)
		verdicts := "baseline"
		if r.pis {
			v := []string{
				judge.Check(r.res.Scenario+": work served within 2 min", r.err == nil && r.res.FirstShare > 0, r.res.FirstShare <= servedWithin),
				judge.Check(r.res.Scenario+": 0 shares lost", r.err == nil, r.res.Lost == 0),
				judge.Check(r.res.Scenario+": 0 payouts doubled or lost", r.err == nil, r.res.Payouts.Doubled == 0 && r.res.Payouts.Lost == 0),
			}
			verdicts = strings.Join(v, ", ")
		}
		if r.err != nil {
			verdicts += fmt.Sprintf(" (did not recover: %v)", r.err)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d/%d\t%s\n", r.res.Scenario, r.settings, first, healthy,
			r.res.Acked, r.res.Lost, r.res.Payouts.Sent, r.res.Payouts.Doubled, r.res.Payouts.Lost, verdicts)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Println("\ntimes from the last node's power coming back; targets judged for the Pis' settings:",
		"work served within 2 min, 0 shares lost, 0 payouts doubled or lost")
	for _, r := range rows {
		for _, line := range r.res.Slots {
			fmt.Printf("periodic slot missed (%s, %s): %s\n", r.res.Scenario, r.settings, line)
		}
	}
	return judge.Err()
}

func seconds(d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}
