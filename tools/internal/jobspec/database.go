package jobspec

import (
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/scryptpool/poolmicrocloud/tools/internal/config"
	"github.com/scryptpool/poolmicrocloud/tools/internal/nomadhcl"
)

// Where the database's volume appears in its tasks, and its data directory.
const (
	DataMount = "/data"
	PGData    = DataMount + "/postgresql"
	// DatabaseUser owns the data directory; PostgreSQL refuses to run as root.
	DatabaseUser = "postgres"
)

// DatabaseService is the Consul service of the pool's PostgreSQL server.
func DatabaseService(p *config.Pool) string { return p.Name + "-database" }

func (b builder) database() *Job {
	d := b.pool.Database
	job := b.newJob("", KindDatabase, "service", 90)
	job.Update = oneAtATime("checks", 10*time.Second, 5*time.Minute, 10*time.Minute)
	bin := path.Dir(d.Command)
	initdb := fmt.Sprintf(`test -s "$PGDATA/PG_VERSION" || exec %s/initdb --username=%s --auth-local=peer --auth-host=scram-sha-256 --encoding=UTF8 --no-locale`,
		bin, DatabaseUser)
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
				Name:         "initdb",
				Driver:       "exec",
				User:         DatabaseUser,
				Lifecycle:    &api.TaskLifecycle{Hook: "prestart"},
				Config:       map[string]any{"command": "/bin/sh", "args": []string{"-c", initdb}},
				Env:          map[string]string{"PGDATA": PGData},
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

// pgHBA allows password logins from the cluster's networks only.
func (b builder) pgHBA() string {
	var sb strings.Builder
	sb.WriteString("# TYPE DATABASE USER ADDRESS METHOD\n")
	fmt.Fprintf(&sb, "local all %s peer\n", DatabaseUser)
	sb.WriteString("host all all 127.0.0.1/32 scram-sha-256\n")
	for _, lan := range b.pool.Cluster.LAN {
		fmt.Fprintf(&sb, "host all all %s scram-sha-256\n", lan)
	}
	return sb.String()
}
