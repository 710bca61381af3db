package jobspec

import (
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/scryptpool/poolmicrocloud/tools/internal/config"
	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
	"github.com/scryptpool/poolmicrocloud/tools/internal/nomadhcl"
	"github.com/scryptpool/poolmicrocloud/tools/internal/secrets"
)

// KindWeb serves MiningCore's API (and the pool's pages) from the
// database under a read-only login.
const KindWeb Kind = contract.KindWeb

// WebSecretsPath is the Nomad variable of the web job: the database's
// read-only login, copied there by deploy (as db_user and db_password).
func WebSecretsPath(p *config.Pool) string {
	return contract.VariablePath(JobID(p, "", KindWeb))
}

func (b builder) web() *Job {
	w := b.pool.Web
	job := b.newJob("", KindWeb, "service", 50)
	job.Update = oneAtATime("checks", 10*time.Second, 2*time.Minute, 5*time.Minute)
	args := []string{
		"--pool=" + b.pool.Name,
		"--listen=${NOMAD_ADDR_http}",
		"--database-service=" + DatabaseService(b.pool),
		"--database-credentials=${NOMAD_SECRETS_DIR}/database.credentials",
	}
	task := b.poolctlTask("web", "web", args, w.CPUMHz, w.MemoryMB)
	task.Templates = []*api.Template{
		loginTemplate("database.credentials", WebSecretsPath(b.pool), secrets.ItemDatabaseUser, secrets.ItemDatabasePassword, ""),
	}
	task.KillSignal = "SIGTERM"
	task.KillTimeout = ptr(10 * time.Second)
	job.TaskGroups = []*api.TaskGroup{{
		Name:             ptr("web"),
		Count:            ptr(w.Instances),
		Spreads:          spreadOverNodes(),
		ShutdownDelay:    ptr(5 * time.Second),
		RestartPolicy:    restart(5, 5*time.Minute, 5*time.Second, "fail"),
		ReschedulePolicy: rescheduleForever(15*time.Second, 5*time.Minute),
		EphemeralDisk:    &api.EphemeralDisk{SizeMB: ptr(50)},
		Networks: []*api.NetworkResource{{
			ReservedPorts: []api.Port{{Label: "http", Value: w.Port}},
		}},
		Services: []*api.Service{{
			Name:      contract.WebService(b.pool.Name),
			PortLabel: "http",
			Provider:  "consul",
			Tags:      []string{"http", "api"},
			Checks: []api.ServiceCheck{{
				Name:     "api answers",
				Type:     "http",
				Path:     contract.WebHealthPath,
				Interval: 10 * time.Second,
				Timeout:  2 * time.Second,
				CheckRestart: &api.CheckRestart{
					Limit: 3,
					Grace: ptr(30 * time.Second),
				},
			}},
		}},
		Tasks: []*api.Task{task},
	}}
	return &Job{
		Job:        job,
		Kind:       KindWeb,
		Stage:      StagePeriodic,
		Subcommand: "web",
		Services:   []string{contract.WebService(b.pool.Name)},
		Source:     config.BlockRange(w.Body, b.pool.NameRange),
		Notes: nomadhcl.Notes{
			"update": "One web server at a time: the other keeps answering while this one is\n" +
				"replaced.",
			"group.web/network": "A static port on every node it runs on, the address the LAN (or a reverse\n" +
				"proxy on it) uses; two instances therefore never share a node.",
			"group.web/shutdown_delay": "Leave Consul first, then get SIGTERM: the server finishes the requests\n" +
				"under way and stops.",
			"group.web/task.web": "Reads what it shows from the database under a read-only login (it can\n" +
				"change nothing there), the coins' settings from the pool definition\n" +
				"deploy recorded in Consul and each coin's pool address, following both\n" +
				"with blocking queries. Its pages being down does not fail the pool's\n" +
				"check: the pool still mines and pays.",
		},
	}
}
