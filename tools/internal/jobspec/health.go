package jobspec

import (
	"time"

	"github.com/hashicorp/nomad/api"

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
	job.TaskGroups = []*api.TaskGroup{{
		Name:             ptr("health"),
		Count:            ptr(1),
		RestartPolicy:    restart(5, 5*time.Minute, 5*time.Second, "fail"),
		ReschedulePolicy: rescheduleForever(15*time.Second, 5*time.Minute),
		EphemeralDisk:    &api.EphemeralDisk{SizeMB: ptr(50)},
		Tasks:            []*api.Task{task},
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
		},
	}
}
