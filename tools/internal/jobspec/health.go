package jobspec

import (
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
	"github.com/scryptpool/poolmicrocloud/tools/internal/nomadhcl"
)

// health runs the pool-level check: a watcher that follows the health of
// every service the pool expects (as `poolctl deploy` recorded them in Consul
// KV) with blocking queries and keeps the pool's own Consul check current.
func (b builder) health() *Job {
	job := b.newJob("", KindHealth, "service", 60)
	job.Update = oneAtATime("task_states", 10*time.Second, 2*time.Minute, 5*time.Minute)
	task := b.poolctlTask("watch", "health", []string{"watch", "--pool=" + b.pool.Name}, 100, 64)
	task.KillTimeout = ptr(10 * time.Second)
	catchup := b.catchupTask()
	job.TaskGroups = []*api.TaskGroup{{
		Name:             ptr(contract.HealthGroup),
		Count:            ptr(1),
		RestartPolicy:    restart(5, 5*time.Minute, 5*time.Second, "fail"),
		ReschedulePolicy: rescheduleForever(15*time.Second, 5*time.Minute),
		EphemeralDisk:    &api.EphemeralDisk{SizeMB: ptr(50)},
		Tasks:            []*api.Task{task, catchup},
	}}
	return &Job{
		Job:        job,
		Kind:       KindHealth,
		Stage:      StagePeriodic,
		Subcommand: "health",
		Source:     b.pool.NameRange,
		Notes: nomadhcl.Notes{
			"update": "No port and no service of its own: healthy means running. What it\n" +
				"watches is the pool's Consul check, registered by poolctl deploy.",
			"group." + contract.HealthGroup + "/task." + contract.CatchupTask: "Runs once each periodic job whose slot passed with no launch, the cases\n" +
				"Nomad's own catch-up skips: a slot skipped because a run was under way\n" +
				"(prohibit_overlap; after a power cut, or a slow run), and a cut before a\n" +
				"job's first launch. It reaches this node's Nomad agent with the task's\n" +
				"workload identity, whose policy (bound to this task; `poolctl policies`\n" +
				"writes it) lists and reads jobs and dispatches them (dispatch-job), no\n" +
				"submit, no variables, no nodes.",
		},
	}
}

// catchupTask talks to Nomad, not Consul: the node's Nomad agent, with the
// task's workload identity as its token.
func (b builder) catchupTask() *api.Task {
	task := b.poolctlTask(contract.CatchupTask, "health", []string{"catchup", "--pool=" + b.pool.Name}, 50, 48)
	task.KillTimeout = ptr(10 * time.Second)
	task.Env = map[string]string{
		"NOMAD_ADDR":   "${meta." + MetaNomadHTTPAddr + "}",
		"NOMAD_CACERT": "${meta." + MetaNomadCACert + "}",
	}
	task.Constraints = []*api.Constraint{
		{LTarget: "${meta." + MetaNomadHTTPAddr + "}", Operand: "is_set"},
		{LTarget: "${meta." + MetaNomadCACert + "}", Operand: "is_set"},
	}
	task.Identity = &api.WorkloadIdentity{Env: true}
	return task
}
