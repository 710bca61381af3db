// Command bench-failover measures how the pool's wallets survive the
// failures the operator lived through, beside a baseline, in one run.
//
// It starts a cluster of real Nomad and Consul agents with three Pi-sized
// clients (1 GiB, 4 x 1.2 GHz), deploys the dev example (two regtest
// litecoind wallets with their health probes) and, beside them, the same
// wallet as a plain Nomad job: Nomad's default restart, reschedule and
// update settings and a TCP check. Into each it injects, one after the
// other:
//
//   - a crash: SIGKILL of one daemon;
//   - a hang: SIGSTOP of one daemon (its port stays open, nothing answers);
//   - a lag: one instance cut off from its peer while the other mines;
//   - a power cut: the node of one instance loses power (its agents and
//     everything they run are killed).
//
// For each it prints how long until Consul marked the instance not
// passing, how long until a healthy instance served again, and whether a
// usable wallet of the coin (one Consul offered that answered RPC and was
// in sync) was there at every moment, sampled every 250 ms. Run it with
// `task bench:failover` (root; about ten minutes). Exit codes: 0 every
// target met, 1 a target missed or not measured (the figures are printed
// all the same) or the run failed.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	nomadapi "github.com/hashicorp/nomad/api"

	"github.com/scryptpool/poolmicrocloud/tools/internal/binaries"
	"github.com/scryptpool/poolmicrocloud/tools/internal/chain"
	"github.com/scryptpool/poolmicrocloud/tools/internal/cluster"
	"github.com/scryptpool/poolmicrocloud/tools/internal/config"
	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
	"github.com/scryptpool/poolmicrocloud/tools/internal/failover"
	"github.com/scryptpool/poolmicrocloud/tools/internal/jobspec"
	"github.com/scryptpool/poolmicrocloud/tools/internal/verdict"
)

const example = "examples/dev/pool.hcl"

// patience is how long a case waits for detection or recovery before it
// says "not within".
const patience = 90 * time.Second

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench-failover:", err)
		os.Exit(1)
	}
}

type system struct {
	name    string
	service string
	obs     *failover.Observer
	rpc     func(addr string) *chain.Client
	ours    bool
}

// faults are the failures injected, in this order, into each system.
var faults = []string{"crash", "hang", "lag", "power cut"}

type result struct {
	system, fault  string
	ours           bool
	detected       time.Duration
	detectedOK     bool
	recovered      time.Duration
	recoveredOK    bool
	restartedAfter time.Duration
	restarted      bool
	avail          failover.Availability
	note           string
}

type bench struct {
	ctx     context.Context
	cluster *cluster.Cluster
	nomad   *nomadapi.Client
	maxLag  int64
	results []result
}

func run() error {
	// Ctrl-C ends the run but still stops the agents it started.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	nomadBin, consulBin, err := binaries.EnsureAgents(ctx, os.Stderr)
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "bench-failover-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	poolctl, err := binaries.BuildPoolctl(work)
	if err != nil {
		return err
	}
	pool, _, diags := config.Load(example)
	if diags.HasErrors() {
		return fmt.Errorf("%s: %s", example, diags.Error())
	}
	jobs := jobspec.Render(pool)
	c, err := cluster.Up(ctx, cluster.Spec{
		StateDir: filepath.Join(work, "cluster"), Slot: -1,
		Datacenter: pool.Settings.Datacenter, Region: pool.Settings.Region,
		Clients: cluster.PiClients(3, 4800, 1024, jobs), Servers: 1,
		Poolctl: poolctl, PoolctlDir: filepath.Dir(pool.Settings.Poolctl),
		NomadBin: nomadBin, ConsulBin: consulBin, Log: os.Stderr,
	})
	if err != nil {
		return err
	}
	defer func() {
		if err := c.Down(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, "stop the cluster:", err)
		}
	}()

	deploy := exec.Command(poolctl, "deploy", "--address", c.NomadAddr(), "--consul-address", c.ConsulAddr(), example)
	deploy.Env = append(os.Environ(), "NOMAD_TOKEN=", "CONSUL_HTTP_TOKEN=")
	deploy.Stderr = os.Stderr
	if err := deploy.Run(); err != nil {
		return fmt.Errorf("deploy %s: %w", example, err)
	}
	nomad, err := c.NomadClient()
	if err != nil {
		return err
	}
	consul, err := c.ConsulClient()
	if err != nil {
		return err
	}
	var wallet *jobspec.Job
	for _, j := range jobs {
		if j.Kind == jobspec.KindWallet {
			wallet = j
		}
	}
	if _, _, err := nomad.Jobs().Register(failover.Baseline(wallet), nil); err != nil {
		return fmt.Errorf("register the baseline wallet: %w", err)
	}
	creds, _, err := nomad.Variables().Read(jobspec.WalletSecretsPath(wallet.Coin), nil)
	if err != nil {
		return err
	}
	rpc := func(addr string) *chain.Client {
		return chain.NewClient(addr, creds.Items["rpc_user"], creds.Items["rpc_password"])
	}
	ours := &system{name: "poolctl wallet (probe, check_restart)", service: contract.WalletService(wallet.Coin), rpc: rpc, ours: true}
	base := &system{name: "baseline (Nomad defaults, TCP check)", service: contract.WalletService(wallet.Coin) + failover.BaselineSuffix, rpc: rpc}
	for _, s := range []*system{ours, base} {
		s.obs = failover.NewObserver(ctx, consul, s.service)
	}
	b := &bench{ctx: ctx, cluster: c, nomad: nomad, maxLag: int64(pool.Coins[0].Wallet.MaxLagBlocks)}
	for _, s := range []*system{ours, base} {
		if _, err := b.healthy(s); err != nil {
			return err
		}
	}
	inject := map[string]func(*system) (result, error){"crash": b.crash, "hang": b.hang, "lag": b.lag, "power cut": b.power}
	for _, fault := range faults {
		for _, s := range []*system{ours, base} {
			fmt.Fprintf(os.Stderr, "--- %s: %s\n", fault, s.name)
			r, err := inject[fault](s)
			if err != nil {
				return fmt.Errorf("%s of %s: %w", fault, s.name, err)
			}
			r.system, r.fault, r.ours = s.name, fault, s.ours
			b.results = append(b.results, r)
			for _, other := range []*system{ours, base} {
				if _, err := b.healthy(other); err != nil {
					return fmt.Errorf("after the %s: %w", fault, err)
				}
			}
		}
	}
	printTable(os.Stdout, pool.Coins[0].Wallet.MaxLagBlocks, b.results)
	return judgeTargets(os.Stdout, b.results)
}

// healthy waits until both instances of s pass and returns the snapshot.
func (b *bench) healthy(s *system) (failover.Snapshot, error) {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Minute)
	defer cancel()
	return s.obs.WaitFor(ctx, s.name+": both instances passing", func(snap failover.Snapshot) bool {
		return snap.Passing() == 2 && len(snap.Instances) == 2
	})
}

func (b *bench) victim(s *system) (failover.Instance, failover.Instance, error) {
	snap, err := b.healthy(s)
	if err != nil {
		return failover.Instance{}, failover.Instance{}, err
	}
	return snap.Instances[0], snap.Instances[1], nil
}

// follow samples availability from t0 and measures detection (victim not
// passing) and recovery (two passing instances, none of them the victim
// if it is gone for good), each within patience.
func (b *bench) follow(s *system, victim failover.Instance, t0 time.Time, recoveredFrom func() time.Time, replaced bool) result {
	var r result
	notPassing := func(snap failover.Snapshot) bool {
		i, ok := snap.Find(victim.AllocID)
		return !ok || !i.Passing
	}
	ctx, cancel := context.WithTimeout(b.ctx, patience)
	defer cancel()
	at, ok := s.obs.WaitFirstAfter(ctx, t0, notPassing)
	if !ok {
		return r
	}
	r.detected, r.detectedOK = at.Sub(t0), true
	from := recoveredFrom()
	recovered := func(snap failover.Snapshot) bool {
		passing := 0
		for _, i := range snap.Instances {
			if i.Passing && (!replaced || i.AllocID != victim.AllocID) {
				passing++
			}
		}
		return passing == 2
	}
	ctx, cancel = context.WithTimeout(b.ctx, patience)
	defer cancel()
	if at, ok := s.obs.WaitFirstAfter(ctx, t0.Add(r.detected), recovered); ok {
		r.recovered, r.recoveredOK = at.Sub(from), true
	}
	return r
}

func (b *bench) crash(s *system) (result, error) {
	victim, _, err := b.victim(s)
	if err != nil {
		return result{}, err
	}
	sampler := failover.StartSampler(b.ctx, s.obs, s.rpc, b.maxLag, 250*time.Millisecond)
	t0 := time.Now()
	if err := failover.Crash(victim.AllocID); err != nil {
		return result{}, err
	}
	r := b.follow(s, victim, t0, func() time.Time { return t0 }, false)
	if at, ok := failover.TaskStartedAfter(b.ctx, b.nomad, victim.AllocID, "daemon", t0); ok {
		r.restartedAfter, r.restarted = at.Sub(t0), true
	}
	r.avail = sampler.Stop()
	return r, nil
}

func (b *bench) hang(s *system) (result, error) {
	victim, _, err := b.victim(s)
	if err != nil {
		return result{}, err
	}
	if s.ours {
		// check_restart ignores failures within its grace after a start.
		if err := failover.WaitPastGrace(b.ctx, b.nomad, victim.AllocID, "daemon", 5*time.Second); err != nil {
			return result{}, err
		}
	}
	sampler := failover.StartSampler(b.ctx, s.obs, s.rpc, b.maxLag, 250*time.Millisecond)
	t0 := time.Now()
	if err := failover.Hang(victim.AllocID); err != nil {
		return result{}, err
	}
	r := b.follow(s, victim, t0, func() time.Time { return t0 }, false)
	if at, ok := failover.TaskStartedAfter(b.ctx, b.nomad, victim.AllocID, "daemon", t0); ok {
		r.restartedAfter, r.restarted = at.Sub(t0), true
	}
	switch {
	case !r.detectedOK:
		r.note = fmt.Sprintf("frozen for %s: the TCP check passed, nothing restarted it", patience)
	case !r.restarted:
		r.note = "never restarted; its TCP check failed only once the frozen daemon's accept queue was full"
	}
	r.avail = sampler.Stop()
	_ = failover.Resume(victim.AllocID) // a hang nobody fixed, let go
	return r, nil
}

func (b *bench) lag(s *system) (result, error) {
	victim, other, err := b.victim(s)
	if err != nil {
		return result{}, err
	}
	sampler := failover.StartSampler(b.ctx, s.obs, s.rpc, b.maxLag, 250*time.Millisecond)
	lagging, miner := s.rpc(victim.Address), s.rpc(other.Address)
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	if err := lagging.SetNetworkActive(ctx, false); err != nil {
		return result{}, err
	}
	if err := failover.Mine(ctx, miner, int(b.maxLag)+1); err != nil {
		return result{}, err
	}
	// Now the victim is more than max_lag_blocks behind.
	t0 := time.Now()
	var reconnected time.Time
	r := b.follow(s, victim, t0, func() time.Time {
		reconnected = time.Now()
		_ = lagging.SetNetworkActive(b.ctx, true)
		return reconnected
	}, false)
	if !r.detectedOK {
		_ = lagging.SetNetworkActive(b.ctx, true)
		r.note = fmt.Sprintf("%d blocks behind for %s: the TCP check passed", b.maxLag+1, patience)
	} else {
		r.note = "recovery counted from the reconnection"
	}
	if _, ok := failover.TaskStartedAfter(b.ctx, b.nomad, victim.AllocID, "daemon", t0); ok {
		r.restarted = true
	}
	r.avail = sampler.Stop()
	return r, nil
}

func (b *bench) power(s *system) (result, error) {
	victim, _, err := b.victim(s)
	if err != nil {
		return result{}, err
	}
	node, err := failover.NodeOf(b.ctx, b.nomad, victim.AllocID)
	if err != nil {
		return result{}, err
	}
	sampler := failover.StartSampler(b.ctx, s.obs, s.rpc, b.maxLag, 250*time.Millisecond)
	t0 := time.Now()
	if err := b.cluster.PowerOff(b.ctx, node); err != nil {
		return result{}, err
	}
	r := b.follow(s, victim, t0, func() time.Time { return t0 }, true)
	r.note = "replacement on a surviving node"
	r.avail = sampler.Stop()
	if err := b.cluster.PowerOn(b.ctx, node); err != nil {
		return result{}, err
	}
	return r, nil
}

func seconds(d time.Duration, ok bool) string {
	if !ok {
		return "never (" + patience.String() + ")"
	}
	return fmt.Sprintf("%.1fs", d.Seconds())
}

func printTable(out io.Writer, maxLagBlocks int, results []result) {
	fmt.Fprintf(out, "\nWallet failover: the dev example's two regtest wallets on 3 Pi-sized nodes (1 GiB, 4 x 1.2 GHz),\n")
	fmt.Fprintf(out, "max_lag_blocks %d; each fault injected once into each system\n\n", maxLagBlocks)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "fault\twallet\tnot passing after\trestarted after\thealthy again after\tusable wallet at every moment\tConsul offered a broken one for\tnote")
	for _, r := range results {
		restarted := "-"
		if r.restarted {
			restarted = fmt.Sprintf("%.1fs", r.restartedAfter.Seconds())
		}
		if r.fault == "lag" && r.restarted {
			restarted = "yes (should not be)"
		}
		recovered := seconds(r.recovered, r.recoveredOK)
		if !r.detectedOK {
			recovered = "-"
		}
		always := "yes"
		if r.avail.Unserved > 0 {
			always = fmt.Sprintf("no: %d of %d samples", r.avail.Unserved, r.avail.Samples)
		}
		if r.avail.Samples == 0 {
			always = "not sampled"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%.1fs\t%s\n", r.fault, strings.SplitN(r.system, " (", 2)[0], seconds(r.detected, r.detectedOK), restarted, recovered, always, r.avail.Misled.Seconds(), r.note)
	}
	tw.Flush()
}

func restartedAfter(r result) string {
	if !r.restarted {
		return "not restarted"
	}
	return fmt.Sprintf("%.1fs", r.restartedAfter.Seconds())
}

// judgeTargets prints the targets for the pool's wallets with
// their verdicts; it fails when one was missed, or its fault was not
// injected or not sampled.
func judgeTargets(out io.Writer, results []result) error {
	ours := map[string]result{}
	for _, r := range results {
		if r.ours {
			ours[r.fault] = r
		}
	}
	var judge verdict.Judge
	fmt.Fprintln(out, "\ntargets (poolctl wallets):")
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	defer tw.Flush()
	check := func(what, word string) { fmt.Fprintf(tw, "  %s\t%s\n", what, word) }

	sampled, always := true, true
	for _, fault := range faults {
		r, ok := ours[fault]
		sampled = sampled && ok && r.avail.Samples > 0
		always = always && r.avail.Unserved == 0
	}
	check("a usable wallet of the coin at every moment, in all four cases",
		judge.Check("a usable wallet at every moment", sampled, always))

	hang, ok := ours["hang"]
	check(fmt.Sprintf("hang detected within 5s (%s)", seconds(hang.detected, hang.detectedOK)),
		judge.Check("hang detected within 5s", ok, hang.detectedOK && hang.detected <= 5*time.Second))
	check(fmt.Sprintf("hung wallet restarted within 20s (%s)", restartedAfter(hang)),
		judge.Check("hung wallet restarted within 20s", ok, hang.restarted && hang.restartedAfter <= 20*time.Second))

	lag, ok := ours["lag"]
	lagged := lag.detectedOK && lag.detected <= 5*time.Second && !lag.restarted
	check(fmt.Sprintf("lag flagged within 5s of exceeding max_lag_blocks (%s)", seconds(lag.detected, lag.detectedOK)),
		judge.Check("lag flagged within 5s, not restarted", ok, lagged))

	// A crashed wallet that restarts but never passes again has not
	// recovered.
	crash, ok := ours["crash"]
	check(fmt.Sprintf("crash: restarted within 15s (%s), healthy at %s with start-up",
		restartedAfter(crash), seconds(crash.recovered, crash.recoveredOK)),
		judge.Check("crash: restarted within 15s and healthy again", ok,
			crash.restarted && crash.restartedAfter <= 15*time.Second && crash.recoveredOK))
	return judge.Err()
}
