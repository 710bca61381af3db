package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	nomadapi "github.com/hashicorp/nomad/api"

	"github.com/scryptpool/poolmicrocloud/tools/internal/config"
	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
	"github.com/scryptpool/poolmicrocloud/tools/internal/jobspec"
	"github.com/scryptpool/poolmicrocloud/tools/internal/poolcheck"
	"github.com/scryptpool/poolmicrocloud/tools/internal/secrets"
)

// Options tune a deployment.
type Options struct {
	// Progress receives one line per change (stderr).
	Progress io.Writer
	// KeepFailed leaves a failed first version registered (Nomad keeps
	// restarting it) instead of stopping it.
	KeepFailed bool
	// Version is recorded with the deployment (poolctl's version).
	Version string
}

// Outcome is what became of one job.
type Outcome struct {
	Job    string
	Result string // healthy, registered, skipped; failed, reverted, stopped, superseded, unplaceable
	Detail string
}

// Failed is returned when a deployment failed or could not be placed; the
// outcomes say which and why.
type Failed struct{ Outcomes []Outcome }

func (o Outcome) ok() bool {
	return o.Result == "healthy" || o.Result == "registered" || o.Result == "skipped"
}

func (e *Failed) Error() string {
	var bad []string
	for _, o := range e.Outcomes {
		if !o.ok() {
			bad = append(bad, o.Job+" "+o.Result)
		}
	}
	return "deployment failed: " + strings.Join(bad, ", ")
}

// Expected lists the Consul services the deployable jobs register, with
// their instance counts: what the pool's check holds the pool to.
func Expected(plan *Plan) []poolcheck.Expected {
	var out []poolcheck.Expected
	for _, j := range plan.Jobs {
		// The archive's service serves restores; the archive's health is
		// what it holds (status shows it), and a pool whose archive is
		// down still mines and pays. So does a pool whose web servers are
		// down: status shows them.
		if j.NotDeployable != "" || j.Job.Kind == jobspec.KindArchive || j.Job.Kind == jobspec.KindWeb {
			continue
		}
		for _, g := range j.Job.Job.TaskGroups {
			for _, s := range g.Services {
				out = append(out, poolcheck.Expected{Service: s.Name, Job: j.ID(), Instances: *g.Count})
			}
		}
	}
	sort.Slice(out, func(i, k int) bool { return out[i].Service < out[k].Service })
	return out
}

// Run deploys the planned jobs stage by stage: each stage's jobs are
// registered with the plan's index (so a change made since the plan is
// refused rather than overwritten) and followed to healthy before the next
// stage starts. The first failure stops the rollout. Before any job, the
// pool's configuration and expected services go to Consul KV and the pool's
// check is registered.
func Run(ctx context.Context, c *Clients, pool *config.Pool, plan *Plan, o Options) ([]Outcome, error) {
	if bad := plan.Unplaceable(); len(bad) > 0 {
		var outcomes []Outcome
		for _, j := range bad {
			outcomes = append(outcomes, Outcome{Job: j.ID(), Result: "unplaceable", Detail: placementReasons(j.Plan.FailedTGAllocs)})
		}
		return outcomes, &Failed{Outcomes: outcomes}
	}
	if err := recordPool(ctx, c, pool, plan); err != nil {
		return nil, err
	}
	if err := ensureSecrets(ctx, c, pool, plan, o); err != nil {
		return nil, err
	}
	var outcomes []Outcome
	stages := map[jobspec.Stage][]*PlannedJob{}
	var order []jobspec.Stage
	for _, j := range plan.Jobs {
		if _, ok := stages[j.Stage]; !ok {
			order = append(order, j.Stage)
		}
		stages[j.Stage] = append(stages[j.Stage], j)
	}
	sort.Slice(order, func(i, k int) bool { return order[i] < order[k] })
	for _, stage := range order {
		var registered []*PlannedJob
		evals := map[string]string{}
		for _, j := range stages[stage] {
			if j.NotDeployable != "" {
				outcomes = append(outcomes, Outcome{Job: j.ID(), Result: "skipped", Detail: "not yet deployable: " + j.NotDeployable})
				progress(o, "%s: skipped, not yet deployable: %s", j.ID(), j.NotDeployable)
				continue
			}
			resp, _, err := c.Nomad.Jobs().RegisterOpts(j.Job.Job, &nomadapi.RegisterOptions{
				EnforceIndex: true,
				ModifyIndex:  j.Plan.JobModifyIndex,
			}, (&nomadapi.WriteOptions{}).WithContext(ctx))
			if err != nil {
				return outcomes, APIError(c.NomadAt, fmt.Sprintf("register job %q", j.ID()), err)
			}
			progress(o, "%s: registered", j.ID())
			registered = append(registered, j)
			evals[j.ID()] = resp.EvalID
		}
		failed := false
		for _, j := range registered {
			out, err := follow(ctx, c, j, evals[j.ID()], o)
			if err != nil {
				return outcomes, err
			}
			outcomes = append(outcomes, out)
			if !out.ok() {
				failed = true
			}
		}
		if failed {
			return outcomes, &Failed{Outcomes: outcomes}
		}
	}
	if err := recordDeployment(ctx, c, pool, outcomes, o.Version); err != nil {
		return outcomes, err
	}
	if err := publishNow(ctx, c, pool, plan); err != nil {
		return outcomes, err
	}
	reportSyncing(ctx, c, pool, o)
	return outcomes, nil
}

// reportSyncing says which wallets are deployed but not yet in service
// (downloading the chain, or behind), with the probe's account of their
// progress: a new pool's deployment succeeds days before it can mine.
func reportSyncing(ctx context.Context, c *Clients, pool *config.Pool, o Options) {
	for _, coin := range pool.Coins {
		waiting := 0
		for _, w := range readWallets(ctx, c, coin.Name) {
			if w.Report != nil && w.Report.Sync.Status != "passing" {
				waiting++
				progress(o, "%s wallet %s: not in service yet: %s", coin.Name, w.Instance, w.Report.Sync.Reason)
			}
		}
		if waiting > 0 {
			progress(o, "%s: the stratum servers give miners work once a wallet is in sync; poolctl status shows the progress", coin.Name)
		}
	}
}

func progress(o Options, format string, args ...any) {
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
	}
}

// recordPool writes the pool definition and the expected services to
// Consul KV and registers the pool's check, so the record of what should
// run exists before anything runs.
func recordPool(ctx context.Context, c *Clients, pool *config.Pool, plan *Plan) error {
	data, err := json.MarshalIndent(pool, "", "  ")
	if err != nil {
		return err
	}
	w := (&consulapi.WriteOptions{}).WithContext(ctx)
	if _, err := c.Consul.KV().Put(&consulapi.KVPair{Key: contract.ConfigKey(pool.Name), Value: data}, w); err != nil {
		return APIError(c.ConsulAt, "write the pool's configuration to KV", err)
	}
	if err := poolcheck.WriteExpected(ctx, c.Consul, pool.Name, Expected(plan)); err != nil {
		return APIError(c.ConsulAt, "record the expected services", err)
	}
	return publishNow(ctx, c, pool, plan)
}

func publishNow(ctx context.Context, c *Clients, pool *config.Pool, plan *Plan) error {
	v, err := poolcheck.Evaluate(ctx, c.Consul, Expected(plan))
	if err != nil {
		return APIError(c.ConsulAt, "read service health", err)
	}
	if err := poolcheck.Publish(ctx, c.Consul, pool.Name, v); err != nil {
		return APIError(c.ConsulAt, "register the pool's check", err)
	}
	return nil
}

// ensureSecrets creates the wallets' RPC credentials and the database's
// login in Nomad Variables the first time they are deployed, and copies
// both into the stratum servers' variable: the jobs' templates read them
// there, each job its own.
func ensureSecrets(ctx context.Context, c *Clients, pool *config.Pool, plan *Plan, o Options) error {
	fail := func(err error) error { return APIError(c.NomadAt, "keep the pool's credentials", err) }
	for _, j := range plan.Jobs {
		if j.NotDeployable != "" {
			continue
		}
		var path string
		var created bool
		var err error
		switch j.Kind {
		case jobspec.KindWallet:
			seedPath := contract.WalletSeedPath(j.Coin)
			seeded, err := secrets.EnsureWalletSeed(ctx, c.Nomad, seedPath)
			if err != nil {
				return fail(err)
			}
			if seeded {
				progress(o, "%s: the pool's HD seed (its keys) created in Nomad variable %s; back it up", j.ID(), seedPath)
			}
			path = jobspec.WalletSecretsPath(j.Coin)
			created, err = secrets.EnsureWallet(ctx, c.Nomad, path, contract.WalletLoginKinds())
		case jobspec.KindDatabase:
			path = jobspec.DatabaseSecretsPath(pool)
			created, err = secrets.EnsureDatabase(ctx, c.Nomad, path)
		default:
			continue
		}
		if err != nil {
			return fail(err)
		}
		if created {
			progress(o, "%s: credentials created in Nomad variable %s", j.ID(), path)
		}
	}
	for _, j := range plan.Jobs {
		if j.NotDeployable != "" {
			continue
		}
		database := []secrets.Copy{
			{From: jobspec.DatabaseSecretsPath(pool), Item: secrets.ItemDatabaseUser, As: secrets.ItemDatabaseUser},
			{From: jobspec.DatabaseSecretsPath(pool), Item: secrets.ItemDatabasePassword, As: secrets.ItemDatabasePassword},
		}
		// Each job gets its own wallet login, limited to what it calls.
		wallets := func(coin, prefix string, kind jobspec.Kind) []secrets.Copy {
			return []secrets.Copy{
				{From: jobspec.WalletSecretsPath(coin), Item: secrets.WalletLoginItem(secrets.ItemUser, string(kind)), As: prefix + secrets.ItemUser},
				{From: jobspec.WalletSecretsPath(coin), Item: secrets.WalletLoginItem(secrets.ItemPassword, string(kind)), As: prefix + secrets.ItemPassword},
			}
		}
		var path, what string
		var copies []secrets.Copy
		switch j.Kind {
		case jobspec.KindStratum:
			path, what, copies = jobspec.StratumSecretsPath(j.Coin), "the wallets' and the database's logins", append(wallets(j.Coin, "", j.Kind), database...)
		case jobspec.KindPayout, jobspec.KindBlocks:
			path, what, copies = jobspec.LedgerSecretsPath(j.Coin, j.Kind), "the wallets' and the database's logins", append(wallets(j.Coin, "", j.Kind), database...)
		case jobspec.KindStats:
			path, what, copies = jobspec.HousekeepingSecretsPath(pool, j.Kind), "the database's login", database
		case jobspec.KindArchive:
			path, what, copies = jobspec.ArchiveSecretsPath(pool), "the replication login's password", []secrets.Copy{
				{From: jobspec.DatabaseSecretsPath(pool), Item: secrets.ItemReplicationPassword, As: secrets.ItemReplicationPassword},
			}
		case jobspec.KindWeb:
			// The read-only login, under the names every job's login has.
			path, what, copies = jobspec.WebSecretsPath(pool), "the database's read-only login", []secrets.Copy{
				{From: jobspec.DatabaseSecretsPath(pool), Item: secrets.ItemWebUser, As: secrets.ItemDatabaseUser},
				{From: jobspec.DatabaseSecretsPath(pool), Item: secrets.ItemWebPassword, As: secrets.ItemDatabasePassword},
			}
		case jobspec.KindBackup:
			path, what, copies = jobspec.HousekeepingSecretsPath(pool, j.Kind), "the database's and every coin's wallets' logins", database
			for _, coin := range pool.Coins {
				copies = append(copies, wallets(coin.Name, jobspec.CoinItem(coin.Name, ""), j.Kind)...)
			}
		default:
			continue
		}
		wrote, err := secrets.EnsureCopies(ctx, c.Nomad, path, copies)
		if err != nil {
			return fail(err)
		}
		if wrote {
			progress(o, "%s: %s copied to Nomad variable %s", j.ID(), what, path)
		}
	}
	return nil
}

type deploymentRecord struct {
	Time    time.Time `json:"time"`
	Poolctl string    `json:"poolctl_version"`
	Jobs    []Outcome `json:"jobs"`
}

func recordDeployment(ctx context.Context, c *Clients, pool *config.Pool, outcomes []Outcome, version string) error {
	data, err := json.MarshalIndent(deploymentRecord{Time: time.Now().UTC(), Poolctl: version, Jobs: outcomes}, "", "  ")
	if err != nil {
		return err
	}
	if _, err := c.Consul.KV().Put(&consulapi.KVPair{Key: contract.DeploymentKey(pool.Name), Value: data}, (&consulapi.WriteOptions{}).WithContext(ctx)); err != nil {
		return APIError(c.ConsulAt, "record the deployment in KV", err)
	}
	return nil
}

// follow waits, with blocking queries, for a registered job's evaluation
// and then its deployment to finish.
func follow(ctx context.Context, c *Clients, j *PlannedJob, evalID string, o Options) (Outcome, error) {
	id := j.ID()
	if evalID == "" {
		// Periodic (and parameterized) jobs get no evaluation when
		// registered: Nomad launches them on schedule.
		return Outcome{Job: id, Result: "registered", Detail: "periodic job registered"}, nil
	}
	eval, err := waitEval(ctx, c, evalID)
	if err != nil {
		return Outcome{}, err
	}
	q := (&nomadapi.QueryOptions{}).WithContext(ctx)
	job, _, err := c.Nomad.Jobs().Info(id, q)
	if err != nil {
		return Outcome{}, APIError(c.NomadAt, fmt.Sprintf("read job %q", id), err)
	}
	version := *job.Version
	if len(eval.FailedTGAllocs) > 0 {
		// Something changed since the plan. Nomad would keep the blocked
		// work waiting for room; put back what ran before instead.
		reasons := placementReasons(eval.FailedTGAllocs)
		progress(o, "%s: could not be placed: %s", id, reasons)
		return afterFailure(ctx, c, id, version, "unplaceable", "could not be placed: "+reasons, false, o)
	}
	if *j.Job.Job.Type != "service" {
		return Outcome{Job: id, Result: "registered"}, nil
	}
	deploymentID := eval.DeploymentID
	if deploymentID == "" {
		d, _, err := c.Nomad.Jobs().LatestDeployment(id, q)
		if err != nil {
			return Outcome{}, APIError(c.NomadAt, fmt.Sprintf("read the deployment of %q", id), err)
		}
		if d == nil || d.JobVersion != version {
			return Outcome{Job: id, Result: "registered", Detail: "no deployment for this version"}, nil
		}
		deploymentID = d.ID
	}
	d, err := waitDeployment(ctx, c, id, deploymentID, o)
	if err != nil {
		return Outcome{}, err
	}
	switch d.Status {
	case nomadapi.DeploymentStatusSuccessful:
		return Outcome{Job: id, Result: "healthy", Detail: fmt.Sprintf("version %d", d.JobVersion)}, nil
	case nomadapi.DeploymentStatusCancelled:
		// A newer version was registered meanwhile (by hand, or by another
		// deploy); that one is now in charge.
		progress(o, "%s: deployment cancelled by a newer version of the job", id)
		return Outcome{Job: id, Result: "superseded", Detail: d.StatusDescription}, nil
	}
	causes := failureCauses(ctx, c, d)
	detail := fmt.Sprintf("deployment %s: %s", d.Status, d.StatusDescription)
	if len(causes) > 0 {
		detail += "; " + strings.Join(causes, "; ")
	}
	for _, cause := range causes {
		progress(o, "%s: %s", id, cause)
	}
	return afterFailure(ctx, c, id, d.JobVersion, "failed", detail, true, o)
}

// placementReasons explains placement failures, group by group, in a
// stable order.
func placementReasons(failed map[string]*nomadapi.AllocationMetric) string {
	reasons := make([]string, 0, len(failed))
	for g, m := range failed {
		reasons = append(reasons, fmt.Sprintf("group %q: %s", g, strings.Join(FailureReasons(m), "; ")))
	}
	sort.Strings(reasons)
	return strings.Join(reasons, "; ")
}

// afterFailure puts back the last stable version of a job that failed at
// version: Nomad does it itself for a failed deployment (auto_revert,
// nomadReverts); otherwise poolctl asks for the revert. With no stable
// version to go back to, the job is stopped so that it does not crash-loop
// unattended. The calls here must happen even when the deploy ran out of
// time, so they get a little time of their own.
func afterFailure(ctx context.Context, c *Clients, id string, version uint64, result, detail string, nomadReverts bool, o Options) (Outcome, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	versions, _, _, err := c.Nomad.Jobs().Versions(id, false, (&nomadapi.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return Outcome{}, APIError(c.NomadAt, fmt.Sprintf("read the versions of %q", id), err)
	}
	for _, v := range versions {
		if v.Stable == nil || !*v.Stable || *v.Version >= version {
			continue
		}
		if !nomadReverts {
			if _, _, err := c.Nomad.Jobs().Revert(id, *v.Version, &version, (&nomadapi.WriteOptions{}).WithContext(ctx), "", ""); err != nil {
				return Outcome{}, APIError(c.NomadAt, fmt.Sprintf("revert %q to version %d", id, *v.Version), err)
			}
		}
		progress(o, "%s: %s; reverted to version %d, the last stable one", id, result, *v.Version)
		return Outcome{Job: id, Result: "reverted", Detail: fmt.Sprintf("%s; reverted to version %d", detail, *v.Version)}, nil
	}
	if o.KeepFailed {
		progress(o, "%s: %s; left as it is (--keep-failed)", id, result)
		return Outcome{Job: id, Result: result, Detail: detail}, nil
	}
	if _, _, err := c.Nomad.Jobs().Deregister(id, false, (&nomadapi.WriteOptions{}).WithContext(ctx)); err != nil {
		return Outcome{}, APIError(c.NomadAt, fmt.Sprintf("stop failed job %q", id), err)
	}
	progress(o, "%s: %s and stopped: no earlier stable version to revert to", id, result)
	return Outcome{Job: id, Result: "stopped", Detail: detail + "; stopped (no stable version to revert to)"}, nil
}

func waitEval(ctx context.Context, c *Clients, evalID string) (*nomadapi.Evaluation, error) {
	var index uint64
	for {
		q := (&nomadapi.QueryOptions{WaitIndex: index, WaitTime: 30 * time.Second}).WithContext(ctx)
		eval, meta, err := c.Nomad.Evaluations().Info(evalID, q)
		if err != nil {
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return nil, ctx.Err()
			}
			return nil, APIError(c.NomadAt, "follow evaluation "+short(evalID), err)
		}
		switch eval.Status {
		case "complete", "failed", "canceled":
			return eval, nil
		}
		index = meta.LastIndex
	}
}

func waitDeployment(ctx context.Context, c *Clients, job, id string, o Options) (*nomadapi.Deployment, error) {
	var index uint64
	last := ""
	for {
		q := (&nomadapi.QueryOptions{WaitIndex: index, WaitTime: 30 * time.Second}).WithContext(ctx)
		d, meta, err := c.Nomad.Deployments().Info(id, q)
		if err != nil {
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return nil, ctx.Err()
			}
			return nil, APIError(c.NomadAt, "follow deployment "+short(id), err)
		}
		if line := deploymentLine(d); line != last {
			progress(o, "%s: %s", job, line)
			last = line
		}
		switch d.Status {
		case nomadapi.DeploymentStatusSuccessful, nomadapi.DeploymentStatusFailed, nomadapi.DeploymentStatusCancelled:
			return d, nil
		}
		if group, stuck := notConverging(d); stuck {
			// With a progress deadline Nomad keeps replacing failed
			// allocations until the deadline (many minutes for a wallet).
			// Once a group has failed as often as it has instances, the
			// rollout is not going anywhere: fail it now, which also
			// triggers auto_revert.
			g := d.TaskGroups[group]
			progress(o, "%s: group %q has had %d failed allocations for %d instances (%d healthy); failing the deployment", job, group, g.UnhealthyAllocs, g.DesiredTotal, g.HealthyAllocs)
			if _, _, err := c.Nomad.Deployments().Fail(d.ID, (&nomadapi.WriteOptions{}).WithContext(ctx)); err != nil {
				return nil, APIError(c.NomadAt, "fail deployment "+short(d.ID), err)
			}
		}
		index = meta.LastIndex
	}
}

// notConverging names a group of a running deployment that has had as
// many failed allocations as it has instances. Replacements count: one
// instance that keeps failing (a port taken on its node, a broken disk)
// fails the rollout as surely as every instance failing once.
func notConverging(d *nomadapi.Deployment) (string, bool) {
	if d.Status != nomadapi.DeploymentStatusRunning {
		return "", false
	}
	for name, g := range d.TaskGroups {
		if g.DesiredTotal > 0 && g.UnhealthyAllocs >= g.DesiredTotal {
			return name, true
		}
	}
	return "", false
}

func deploymentLine(d *nomadapi.Deployment) string {
	groups := make([]string, 0, len(d.TaskGroups))
	for g := range d.TaskGroups {
		groups = append(groups, g)
	}
	sort.Strings(groups)
	parts := []string{"deployment " + d.Status}
	for _, g := range groups {
		s := d.TaskGroups[g]
		parts = append(parts, fmt.Sprintf("%s %d/%d healthy (%d placed, %d unhealthy)", g, s.HealthyAllocs, s.DesiredTotal, s.PlacedAllocs, s.UnhealthyAllocs))
	}
	return strings.Join(parts, ", ")
}

// failureCauses reads the task events of a failed deployment's unhealthy
// allocations: the driver failure, exit code or restart verdict that says
// why, rather than just "unhealthy".
func failureCauses(ctx context.Context, c *Clients, d *nomadapi.Deployment) []string {
	allocs, _, err := c.Nomad.Deployments().Allocations(d.ID, (&nomadapi.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return []string{"task events unavailable: " + err.Error()}
	}
	var causes []string
	for _, a := range allocs {
		if a.DeploymentStatus != nil && a.DeploymentStatus.Healthy != nil && *a.DeploymentStatus.Healthy {
			continue
		}
		causes = append(causes, allocCauses(ctx, c, a.ID, a.Name)...)
	}
	return dedupe(causes)
}

// allocCauses reads one allocation's task events and the failed tasks'
// last words, a line per task: "name (alloc id): cause; it said: ...".
func allocCauses(ctx context.Context, c *Clients, id, name string) []string {
	full, _, err := c.Nomad.Allocations().Info(id, (&nomadapi.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return nil
	}
	var out []string
	for _, cause := range TaskCauses(full) {
		if tail := logTail(ctx, c, full, cause.Task); tail != "" {
			cause.Text += "; it said: " + tail
		}
		out = append(out, fmt.Sprintf("%s (alloc %s): %s", name, short(id), cause))
	}
	return out
}

// causeRank orders the task events that explain a failure, most telling
// first: what the driver or setup said beats an exit code, which beats
// Nomad's verdicts about restarting and health.
var causeRank = map[string]int{
	nomadapi.TaskDriverFailure:          0,
	nomadapi.TaskSetupFailure:           0,
	nomadapi.TaskFailedValidation:       0,
	nomadapi.TaskArtifactDownloadFailed: 0,
	"Task hook failed":                  0,
	nomadapi.TaskTerminated:             1,
	nomadapi.TaskKilled:                 2,
	nomadapi.TaskNotRestarting:          3,
	"Alloc Unhealthy":                   3,
	nomadapi.TaskRestartSignal:          4,
}

// Cause is why one task of an allocation is not healthy.
type Cause struct {
	Task string
	Text string
}

func (c Cause) String() string { return "task " + c.Task + ": " + c.Text }

// TaskCauses lists, per task, the events that best explain why an
// allocation is not healthy: the most telling one, and the latest verdict
// when that is a different one. A task that ended with exit code 0 (a
// prestart step) is no cause.
func TaskCauses(a *nomadapi.Allocation) []Cause {
	tasks := make([]string, 0, len(a.TaskStates))
	for t := range a.TaskStates {
		tasks = append(tasks, t)
	}
	sort.Strings(tasks)
	var out []Cause
	for _, t := range tasks {
		var best, latest *nomadapi.TaskEvent
		for _, e := range a.TaskStates[t].Events {
			rank, ok := causeRank[e.Type]
			if !ok || (e.Type == nomadapi.TaskTerminated && e.ExitCode == 0) {
				continue
			}
			if best == nil || rank <= causeRank[best.Type] {
				best = e
			}
			latest = e
		}
		if best == nil {
			continue
		}
		text := describe(best)
		if latest != best {
			text += " (then " + describe(latest) + ")"
		}
		out = append(out, Cause{Task: t, Text: text})
	}
	return out
}

// logTail is what a task said last, with the first line that reads like
// an error, which is usually the cause where the last lines are its
// consequences: litecoind logs "Binding RPC on address ... failed" on
// stdout and only "Unable to start HTTP server" on stderr; PostgreSQL's
// "could not bind ...: Address already in use" comes lines before its
// "FATAL: could not create any TCP/IP sockets".
func logTail(ctx context.Context, c *Clients, a *nomadapi.Allocation, task string) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return tellingLines(readLog(ctx, c, a, task, "stderr"), readLog(ctx, c, a, task, "stdout"))
}

func readLog(ctx context.Context, c *Clients, a *nomadapi.Allocation, task, stream string) []byte {
	frames, errs := c.Nomad.AllocFS().Logs(a, false, task, stream, "end", 4096, ctx.Done(), (&nomadapi.QueryOptions{}).WithContext(ctx))
	var data []byte
	for {
		select {
		case f, ok := <-frames:
			if !ok {
				return data
			}
			if f != nil {
				data = append(data, f.Data...)
			}
		case <-errs:
			return data
		case <-ctx.Done():
			return data
		}
	}
}

var errorWords = regexp.MustCompile(`(?i)\b(error|failed|fatal|unable|cannot|can't|could not|denied|in use)\b`)

// tellingLines joins the first error-like line of stdout and of stderr
// (within the tail read) and the last two distinct lines of stderr.
func tellingLines(stderr, stdout []byte) string {
	errLines := distinct(printableLines(stderr))
	last := errLines
	if len(last) > 2 {
		last = last[len(last)-2:]
	}
	var lines []string
	for _, candidates := range [][]string{printableLines(stdout), errLines} {
		for _, l := range candidates {
			if errorWords.MatchString(l) {
				if !slices.Contains(last, l) && !slices.Contains(lines, l) {
					lines = append(lines, l)
				}
				break
			}
		}
	}
	return strings.Join(append(lines, last...), " / ")
}

func printableLines(data []byte) []string {
	var lines []string
	for _, l := range strings.Split(string(data), "\n") {
		l = strings.TrimSpace(strings.Map(func(r rune) rune {
			if r < 0x20 || r == 0x7f {
				return ' '
			}
			return r
		}, l))
		if l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// distinct drops repeats of a line (a task restarted in place says the
// same thing each time), keeping the last occurrence's place.
func distinct(lines []string) []string {
	var out []string
	for k, l := range lines {
		if !slices.Contains(lines[k+1:], l) {
			out = append(out, l)
		}
	}
	return out
}

func describe(e *nomadapi.TaskEvent) string {
	msg := e.DisplayMessage
	if msg == "" {
		msg = e.Message
	}
	if e.Type == nomadapi.TaskTerminated && !strings.Contains(strings.ToLower(msg), "exit code") {
		msg = strings.TrimSpace(fmt.Sprintf("exit code %d %s", e.ExitCode, msg))
	}
	return e.Type + ": " + strings.TrimSpace(msg)
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// short is the 8-character prefix Nomad's CLI shows for IDs.
func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
