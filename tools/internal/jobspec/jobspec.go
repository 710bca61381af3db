// Package jobspec turns a pool definition into Nomad jobs, built as
// nomad/api structs: one wallet, stratum, payout and block-tracking job per
// coin, and the pool-wide database, statistics, backup, web and health jobs.
//
// The settings of each job answer a failure the pool's operator lived
// through (crashed, hung and lagging wallets, power cuts, cron jobs that ran
// twice or not at all); the reasons are written into the job files as
// comments through Notes.
package jobspec

import (
	"cmp"
	"slices"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/nomad/api"

	"github.com/scryptpool/poolmicrocloud/tools/internal/config"
	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
	"github.com/scryptpool/poolmicrocloud/tools/internal/nomadhcl"
)

// Kind is the workload a job runs.
type Kind string

// The workload kinds, one job each (per coin where Coin is set).
const (
	KindDatabase Kind = contract.KindDatabase
	KindWallet   Kind = contract.KindWallet
	KindStratum  Kind = contract.KindStratum
	KindHealth   Kind = contract.KindHealth
	KindPayout   Kind = contract.KindPayout
	KindBlocks   Kind = contract.KindBlocks
	KindStats    Kind = contract.KindStats
	KindBackup   Kind = contract.KindBackup
	KindArchive  Kind = contract.KindArchive
)

// Stage orders deployment: what others depend on comes first.
type Stage int

// Deployment stages: the database and wallets before the stratum servers
// that store shares in one and take work from the other, and the periodic
// jobs and the watcher last.
const (
	StageStorage Stage = iota
	StageWallets
	StageStratum
	StagePeriodic
)

// Job is one rendered job and what poolctl knows about it.
type Job struct {
	Job   *api.Job
	Kind  Kind
	Coin  string // empty for pool-wide jobs
	Stage Stage
	// Subcommand is the poolctl subcommand the job runs ("stratum",
	// "payout", ...), empty when it runs a program of its own (litecoind,
	// postgres).
	Subcommand string
	// Services are the Consul services the job registers.
	Services []string
	// Source is the part of the pool definition the job comes from.
	Source hcl.Range
	// Notes explain the settings in the written job file.
	Notes nomadhcl.Notes
}

// ID is the Nomad job ID.
func (j *Job) ID() string { return *j.Job.ID }

// Periodic tells whether the job is launched by a cron schedule.
func (j *Job) Periodic() bool { return j.Job.Periodic != nil }

// Render builds every job of the pool, in deployment order.
func Render(p *config.Pool) []*Job {
	b := builder{pool: p}
	jobs := []*Job{b.database()}
	for _, coin := range p.Coins {
		jobs = append(jobs, b.wallet(coin), b.stratum(coin), b.payout(coin), b.blocks(coin))
	}
	jobs = append(jobs, b.archive(), b.stats(), b.backup(), b.web(), b.health())
	keepOffVolumeNodes(jobs)
	consulIdentities(p, jobs)
	slices.SortStableFunc(jobs, func(a, b *Job) int { return cmp.Compare(a.Stage, b.Stage) })
	return jobs
}

type builder struct {
	pool *config.Pool
}

// JobID names the job of a kind for a coin (or pool-wide when coin is "").
func JobID(pool *config.Pool, coin string, kind Kind) string {
	return contract.JobID(pool.Name, coin, string(kind))
}

func (b builder) newJob(coin string, kind Kind, jobType string, priority int) *api.Job {
	id := JobID(b.pool, coin, kind)
	meta := map[string]string{contract.MetaPool: b.pool.Name, contract.MetaKind: string(kind)}
	if coin != "" {
		meta[contract.MetaCoin] = coin
	}
	return &api.Job{
		ID:          ptr(id),
		Name:        ptr(id),
		Region:      ptr(b.pool.Settings.Region),
		Datacenters: []string{b.pool.Settings.Datacenter},
		Type:        ptr(jobType),
		Priority:    ptr(priority),
		Meta:        meta,
	}
}

// poolctlTask runs a poolctl subcommand under the exec driver.
func (b builder) poolctlTask(name, subcommand string, args []string, cpu, memory int) *api.Task {
	return &api.Task{
		Name:   name,
		Driver: "exec",
		User:   "nobody",
		Config: map[string]any{
			"command": b.pool.Settings.Poolctl,
			"args":    append([]string{subcommand}, args...),
		},
		Env: map[string]string{
			// Each node says where its Consul agent answers and, when that
			// is HTTPS, the CA file tasks verify it with (client meta, set
			// by provisioning and by poolctl dev up; empty without TLS).
			"CONSUL_HTTP_ADDR": "${meta." + MetaConsulHTTPAddr + "}",
			"CONSUL_CACERT":    "${meta." + MetaConsulCACert + "}",
		},
		Constraints: []*api.Constraint{
			{LTarget: "${meta." + MetaConsulHTTPAddr + "}", Operand: "is_set"},
			{LTarget: "${meta." + MetaConsulCACert + "}", Operand: "is_set"},
		},
		Resources: &api.Resources{CPU: ptr(cpu), MemoryMB: ptr(memory)},
		LogConfig: smallLogs(),
	}
}

// smallLogs keeps task logs to a few megabytes: the Pis' SD cards wear out
// from writes, and a crash-looping task can write a lot.
func smallLogs() *api.LogConfig {
	return &api.LogConfig{MaxFiles: ptr(3), MaxFileSizeMB: ptr(5)}
}

// spreadOverNodes puts instances of a group on different nodes where there
// are several: a power cut then takes at most one of them. It is a spread,
// not a distinct_hosts constraint, so a one-node dev cluster still runs all
// instances.
func spreadOverNodes() []*api.Spread {
	return []*api.Spread{{Attribute: "${node.unique.id}", Weight: ptr(int8(100))}}
}

// Client meta keys every node carries for the pool's tasks: where its
// Consul agent's API answers, and the CA file (inside the tasks' chroot)
// that API's certificate is verified with, empty when it is plain HTTP.
const (
	MetaConsulHTTPAddr = "consul_http_addr"
	MetaConsulCACert   = "consul_cacert"
	// MetaNomadHTTPAddr and MetaNomadCACert are the same for the node's
	// Nomad agent, for the tasks that talk to Nomad with their workload
	// identity (the catch-up of missed periodic slots).
	MetaNomadHTTPAddr = "nomad_http_addr"
	MetaNomadCACert   = "nomad_cacert"
)

// MetaHostVolumes is the client meta key that lists, comma-separated, the
// host volumes a node holds. Provisioning and the local clusters set it on
// every node that holds one.
const MetaHostVolumes = "pool_host_volumes"

// keepOffVolumeNodes gives every group that mounts no host volume a strong
// preference against nodes that hold one, when any job mounts one. The
// database, its backup and the wallets can only run where their volume is;
// left to bin-packing alone, Nomad fills the fullest node first, which is
// the database's, and the nightly backup then finds no room there. The
// capacity model places the same way (nodes with volumes a demand does not
// need come last), so what it says fits, Nomad places.
func keepOffVolumeNodes(jobs []*Job) {
	if len(VolumeOwners(jobs)) == 0 {
		return
	}
	for _, j := range jobs {
		for _, g := range j.Job.TaskGroups {
			if len(g.Volumes) > 0 {
				continue
			}
			g.Affinities = append(g.Affinities, &api.Affinity{
				LTarget: "${meta." + MetaHostVolumes + "}",
				Operand: "regexp",
				RTarget: ".",
				Weight:  ptr(int8(-100)),
			})
			if j.Notes == nil {
				j.Notes = nomadhcl.Notes{}
			}
			j.Notes["group."+*g.Name+"/affinity"] = "Away from the nodes that hold host volumes: their room is kept for\n" +
				"the wallets, the database and its backup, which can run nowhere else."
		}
	}
}

// consulIdentities gives the tasks of every job the contract grants Consul
// access a Consul identity: on a cluster whose Nomad servers are set up for
// workload identity (task_identity in their consul block, as provisioning
// does), each task logs in to Consul and gets a token with the policy
// named like its job, and its templates query Consul with it. Jobs that do
// not reach Consul (the database) get none: a login that binds no policy
// fails the task.
func consulIdentities(p *config.Pool, jobs []*Job) {
	granted := map[string]bool{}
	for _, g := range contract.FromConfig(p).Grantees() {
		granted[g.Name] = true
	}
	for _, j := range jobs {
		if !granted[j.ID()] {
			continue
		}
		for _, g := range j.Job.TaskGroups {
			g.Consul = &api.Consul{}
			if j.Notes == nil {
				j.Notes = nomadhcl.Notes{}
			}
			j.Notes["group."+*g.Name+"/consul"] = "The tasks reach Consul with this job's own identity (its ACL policy is\n" +
				"named like the job; `poolctl policies` writes it)."
		}
	}
}

// oneAtATime updates one allocation at a time and only moves on once it is
// healthy by healthCheck ("checks" or "task_states") for minHealthy; a
// deployment that fails is reverted to the last stable version.
func oneAtATime(healthCheck string, minHealthy, healthyDeadline, progressDeadline time.Duration) *api.UpdateStrategy {
	return &api.UpdateStrategy{
		MaxParallel:      ptr(1),
		HealthCheck:      ptr(healthCheck),
		MinHealthyTime:   ptr(minHealthy),
		HealthyDeadline:  ptr(healthyDeadline),
		ProgressDeadline: ptr(progressDeadline),
		AutoRevert:       ptr(true),
	}
}

// restart restarts a failed task in place up to attempts times per
// interval, delay apart; then mode decides ("fail": give the allocation up
// to rescheduling; "delay": wait and keep trying in place).
func restart(attempts int, interval, delay time.Duration, mode string) *api.RestartPolicy {
	return &api.RestartPolicy{Attempts: ptr(attempts), Interval: ptr(interval), Delay: ptr(delay), Mode: ptr(mode)}
}

// rescheduleForever replaces a failed allocation on another node, without
// limit, backing off exponentially from delay to maxDelay.
func rescheduleForever(delay, maxDelay time.Duration) *api.ReschedulePolicy {
	return &api.ReschedulePolicy{
		Delay:         ptr(delay),
		DelayFunction: ptr("exponential"),
		MaxDelay:      ptr(maxDelay),
		Unlimited:     ptr(true),
	}
}

func hostVolume(name string, readOnly bool) map[string]*api.VolumeRequest {
	return map[string]*api.VolumeRequest{
		name: {Name: name, Type: "host", Source: name, ReadOnly: readOnly},
	}
}

func ptr[T any](v T) *T { return &v }

// VolumeOwners maps each host volume the jobs mount to the user their
// tasks run as there, which must own the volume's directory.
func VolumeOwners(jobs []*Job) map[string]string {
	owners := map[string]string{}
	for _, j := range jobs {
		for _, g := range j.Job.TaskGroups {
			for _, t := range g.Tasks {
				for _, m := range t.VolumeMounts {
					v := g.Volumes[*m.Volume]
					if v != nil && owners[v.Source] == "" {
						owners[v.Source] = t.User
					}
				}
			}
		}
	}
	return owners
}
