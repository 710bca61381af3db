package jobspec

import (
	"fmt"
	"path"
	"strings"
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

// initdbScript creates the cluster the first time, with the pool's
// database, and makes sure on every start that the pool's role exists with
// the verifier from the Nomad variable. Single-user mode needs no network
// and no password: the server is not running yet (prestart).
func (b builder) initdbScript(bin string) string {
	role, db := secrets.DatabaseUser, DatabaseName
	return strings.Join([]string{
		"set -e",
		fmt.Sprintf(`if ! test -s "$PGDATA/PG_VERSION"; then %s/initdb --username=%s --auth-local=peer --auth-host=scram-sha-256 --encoding=UTF8 --no-locale; fresh=1; fi`, bin, DatabaseUser),
		`verifier=$(cat "$NOMAD_SECRETS_DIR/pool.scram")`,
		`test -n "$verifier" || { echo "no database verifier rendered from the Nomad variable" >&2; exit 1; }`,
		fmt.Sprintf(`{ echo "DO \$\$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '%s') THEN CREATE ROLE %s LOGIN; END IF; END\$\$;"; echo "ALTER ROLE %s PASSWORD '$verifier';"; test -z "$fresh" || echo "CREATE DATABASE %s OWNER %s;"; } | %s/postgres --single -D "$PGDATA" postgres >/dev/null`,
			role, role, role, db, role, bin),
	}, "\n")
}

func (b builder) database() *Job {
	d := b.pool.Database
	job := b.newJob("", KindDatabase, "service", 90)
	job.Update = oneAtATime("checks", 10*time.Second, 5*time.Minute, 10*time.Minute)
	bin := path.Dir(d.Command)
	initdb := b.initdbScript(bin)
	volumeMount := []*api.VolumeMount{{Volume: ptr(d.Volume), Destination: ptr(DataMount)}}
	group := &api.TaskGroup{
		Name:             ptr("database"),
		Count:            ptr(1),
		Volumes:          hostVolume(d.Volume, false),
		RestartPolicy:    restart(3, 5*time.Minute, 10*time.Second, "delay"),
		ReschedulePolicy: rescheduleForever(30*time.Second, 5*time.Minute),
		EphemeralDisk:    &api.EphemeralDisk{SizeMB: ptr(100)},
		Networks: []*api.NetworkResource{{
			DynamicPorts: []api.Port{{Label: "db"}},
		}},
		Services: []*api.Service{{
			Name:      DatabaseService(b.pool),
			PortLabel: "db",
			Provider:  "consul",
			Tags:      []string{"postgresql"},
			Checks: []api.ServiceCheck{{
				Name:     "accepts connections",
				Type:     "script",
				TaskName: "postgres",
				Command:  bin + "/pg_isready",
				Args:     []string{"--host=${NOMAD_IP_db}", "--port=${NOMAD_PORT_db}", "--timeout=3"},
				Interval: 10 * time.Second,
				Timeout:  5 * time.Second,
				CheckRestart: &api.CheckRestart{
					Limit:          3,
					Grace:          ptr(2 * time.Minute),
					IgnoreWarnings: true,
				},
			}},
		}},
		Tasks: []*api.Task{
			{
				Name:      "initdb",
				Driver:    "exec",
				User:      DatabaseUser,
				Lifecycle: &api.TaskLifecycle{Hook: "prestart"},
				Config:    map[string]any{"command": "/bin/sh", "args": []string{"-c", initdb}},
				Env:       map[string]string{"PGDATA": PGData},
				Templates: []*api.Template{{
					// The SCRAM verifier, not the password: what PostgreSQL
					// keeps. Readable by the postgres user, whose uid differs
					// from node to node.
					DestPath:     ptr("secrets/pool.scram"),
					EmbeddedTmpl: ptr(fmt.Sprintf("{{ with nomadVar %q }}{{ .%s }}{{ end }}", DatabaseSecretsPath(b.pool), secrets.ItemDatabaseVerifier)),
					ChangeMode:   ptr("noop"),
					Perms:        ptr("0444"),
				}},
				VolumeMounts: volumeMount,
				Resources:    &api.Resources{CPU: ptr(200), MemoryMB: ptr(64)},
				LogConfig:    &api.LogConfig{MaxFiles: ptr(1), MaxFileSizeMB: ptr(1)},
			},
			{
				Name:   "postgres",
				Driver: "exec",
				User:   DatabaseUser,
				Config: map[string]any{
					"command": d.Command,
					"args": []string{
						"--listen_addresses=${NOMAD_IP_db}",
						"--port=${NOMAD_PORT_db}",
						"--unix_socket_directories=${NOMAD_TASK_DIR}",
						"--hba_file=${NOMAD_TASK_DIR}/pg_hba.conf",
						fmt.Sprintf("--shared_buffers=%dMB", max(d.MemoryMB/4, 16)),
						"--max_connections=50",
						"--dynamic_shared_memory_type=mmap",
						"--logging_collector=off",
					},
				},
				Env: map[string]string{"PGDATA": PGData},
				Templates: []*api.Template{{
					DestPath:     ptr("local/pg_hba.conf"),
					EmbeddedTmpl: ptr(b.pgHBA()),
					ChangeMode:   ptr("signal"),
					ChangeSignal: ptr("SIGHUP"),
					Perms:        ptr("0600"),
				}},
				VolumeMounts: volumeMount,
				Resources:    &api.Resources{CPU: ptr(d.CPUMHz), MemoryMB: ptr(d.MemoryMB)},
				KillSignal:   "SIGINT",
				KillTimeout:  ptr(time.Minute),
				LogConfig:    smallLogs(),
			},
		},
	}
	job.TaskGroups = []*api.TaskGroup{group}
	return &Job{
		Job:      job,
		Kind:     KindDatabase,
		Stage:    StageStorage,
		Services: []string{DatabaseService(b.pool)},
		Source:   config.BlockRange(d.Body, b.pool.NameRange),
		Notes: nomadhcl.Notes{
			"group.database/volume." + d.Volume: "The data lives on one node's host volume, so the database runs there\n" +
				"and nowhere else: a copy started empty elsewhere would lose the ledger.",
			"group.database/restart": "It cannot move, so it keeps restarting in place (mode delay) for as\n" +
				"long as it takes.",
			"group.database/task.postgres/kill_signal": "SIGINT is PostgreSQL's fast shutdown: it ends sessions and writes a\n" +
				"checkpoint, so the next start needs no crash recovery.",
		},
	}
}

// pgHBA allows password logins from the node and the cluster's networks
// only.
func (b builder) pgHBA() string {
	var sb strings.Builder
	sb.WriteString("# TYPE DATABASE USER ADDRESS METHOD\n")
	fmt.Fprintf(&sb, "local all %s peer\n", DatabaseUser)
	sb.WriteString("host all all 127.0.0.1/32 scram-sha-256\n")
	// The node's own address: the pool's processes beside the database
	// connect through it, whatever the LAN setting says.
	sb.WriteString("host all all {{ env \"NOMAD_IP_db\" }}/32 scram-sha-256\n")
	for _, lan := range b.pool.Cluster.LAN {
		fmt.Fprintf(&sb, "host all all %s scram-sha-256\n", lan)
	}
	return sb.String()
}
