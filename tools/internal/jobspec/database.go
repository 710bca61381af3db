package jobspec

import (
	"fmt"
	"path"
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/scryptpool/poolmicrocloud/tools/internal/config"
	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
	"github.com/scryptpool/poolmicrocloud/tools/internal/nomadhcl"
	"github.com/scryptpool/poolmicrocloud/tools/internal/secrets"
)

// Where the database's volume appears in its tasks, and its data directory.
const (
	DataMount = "/data"
	PGData    = DataMount + "/postgresql"
	// DatabaseUser owns the data directory; PostgreSQL refuses to run as root.
	DatabaseUser = "postgres"
)

// DatabaseService is the Consul service of the pool's PostgreSQL server.
func DatabaseService(p *config.Pool) string { return contract.DatabaseService(p.Name) }

// DatabaseSecretsPath is the Nomad variable holding the pool's database
// login (made by poolctl deploy).
func DatabaseSecretsPath(p *config.Pool) string {
	return contract.VariablePath(JobID(p, "", KindDatabase))
}

// DatabaseName is the database the pool's processes use, owned by the
// role secrets.DatabaseUser.
const DatabaseName = "pool"

// databaseSecrets renders the members' logins from the job's variable as
// the JSON `poolctl database member --secrets` reads.
func (b builder) databaseSecrets() string {
	// Hex passwords and a base64 SCRAM verifier: nothing to escape in a
	// JSON string; the member refuses anything that is not JSON.
	item := func(name string) string { return `"{{ .` + name + ` }}"` }
	return fmt.Sprintf("{{ with nomadVar %q }}{\"superuser_password\": %s, \"replication_password\": %s, \"rewind_password\": %s, \"pool_user\": %s, \"pool_verifier\": %s, \"web_user\": %s, \"web_verifier\": %s}{{ end }}\n",
		DatabaseSecretsPath(b.pool),
		item(secrets.ItemSuperuserPassword), item(secrets.ItemReplicationPassword), item(secrets.ItemRewindPassword),
		item(secrets.ItemDatabaseUser), item(secrets.ItemDatabaseVerifier), item(secrets.ItemWebUser), item(secrets.ItemWebVerifier))
}

func (b builder) database() *Job {
	d := b.pool.Database
	job := b.newJob("", KindDatabase, "service", 90)
	job.Update = oneAtATime("checks", 10*time.Second, 5*time.Minute, 10*time.Minute)
	volumeMount := []*api.VolumeMount{{Volume: ptr(d.Volume), Destination: ptr(DataMount)}}
	args := []string{
		"member",
		"--name=${node.unique.name}",
		"--namespace=" + contract.DatabaseDCSNamespace(b.pool.Name),
		"--scope=" + contract.DatabaseScope,
		"--data-dir=" + PGData,
		"--bin-dir=" + path.Dir(d.Command),
		"--listen=${NOMAD_IP_db}:${NOMAD_PORT_db}",
		"--api=${NOMAD_IP_api}:${NOMAD_PORT_api}",
		"--socket-dir=${NOMAD_TASK_DIR}",
		"--secrets=${NOMAD_SECRETS_DIR}/database.json",
		"--dir=${NOMAD_SECRETS_DIR}",
		"--database=" + DatabaseName,
		fmt.Sprintf("--shared-buffers-mb=%d", max(d.MemoryMB/4, 16)),
		"--max-connections=50",
		"--restore-key=" + contract.DatabaseRestoreKey(b.pool.Name),
	}
	for _, lan := range b.pool.Cluster.LAN {
		args = append(args, "--allow="+lan)
	}
	member := b.poolctlTask("patroni", "database", args, d.CPUMHz, d.MemoryMB+PatroniMemoryMB)
	member.User = DatabaseUser
	member.Templates = []*api.Template{{
		DestPath:     ptr("secrets/database.json"),
		EmbeddedTmpl: ptr(b.databaseSecrets()),
		ChangeMode:   ptr("restart"),
		// Readable by the postgres user, whose uid differs from
		// node to node; the secrets directory is the task's own.
		Perms: ptr("0444"),
	}}
	member.VolumeMounts = volumeMount
	member.KillSignal = "SIGTERM"
	member.KillTimeout = ptr(time.Minute)
	group := &api.TaskGroup{
		Name:  ptr("database"),
		Count: ptr(d.Instances),
		Constraints: []*api.Constraint{{
			Operand: api.ConstraintDistinctHosts,
			RTarget: "true",
		}},
		Volumes:          hostVolume(d.Volume, false),
		RestartPolicy:    restart(3, 5*time.Minute, 10*time.Second, "delay"),
		ReschedulePolicy: rescheduleForever(30*time.Second, 5*time.Minute),
		EphemeralDisk:    &api.EphemeralDisk{SizeMB: ptr(100)},
		Networks: []*api.NetworkResource{{
			DynamicPorts: []api.Port{{Label: "db"}, {Label: "api"}},
		}},
		Services: []*api.Service{{
			Name:      DatabaseService(b.pool),
			PortLabel: "db",
			Provider:  "consul",
			Tags:      []string{"postgresql", "patroni"},
			Meta:      map[string]string{"member": "${node.unique.name}"},
			Checks: []api.ServiceCheck{{
				Name:      "postgres running",
				Type:      "http",
				PortLabel: "api",
				Path:      "/health",
				Interval:  5 * time.Second,
				Timeout:   3 * time.Second,
				CheckRestart: &api.CheckRestart{
					Limit:          3,
					Grace:          ptr(5 * time.Minute),
					IgnoreWarnings: true,
				},
			}},
		}},
		Tasks: []*api.Task{member},
	}
	job.TaskGroups = []*api.TaskGroup{group}
	return &Job{
		Job:      job,
		Kind:     KindDatabase,
		Stage:    StageStorage,
		Services: []string{DatabaseService(b.pool)},
		Source:   config.BlockRange(d.Body, b.pool.NameRange),
		Notes: nomadhcl.Notes{
			"group.database/count": "One member per node (distinct_hosts), each with its own copy of the\n" +
				"database on its node's volume. Patroni keeps one primary, holding a\n" +
				"leader lock in Consul, and the others its replicas, one synchronous:\n" +
				"a commit is acknowledged once two nodes have it.",
			"group.database/volume." + d.Volume: "A member's data lives on its node's volume: the member runs there\n" +
				"and nowhere else. A member placed on a node whose volume is empty\n" +
				"copies the primary before it serves.",
			"group.database/restart": "A member keeps restarting in place (mode delay): the other members\n" +
				"serve meanwhile.",
			"group.database/service." + DatabaseService(b.pool): "Every running member, primary or replica. The pool's processes\n" +
				"connect to the one that accepts writes (target_session_attrs).",
			"group.database/task.patroni/kill_signal": "On SIGTERM Patroni stops PostgreSQL (fast shutdown) and, on the\n" +
				"primary, hands the leader lock over at once instead of letting\n" +
				"it lapse.",
		},
	}
}

// PatroniMemoryMB is what Patroni itself (Python) takes beside PostgreSQL
// in a member's task: about 42 MB resident measured on an idle member.
const PatroniMemoryMB = 64
