package jobspec

import (
	"strconv"
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/scryptpool/poolmicrocloud/tools/internal/config"
	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
	"github.com/scryptpool/poolmicrocloud/tools/internal/nomadhcl"
	"github.com/scryptpool/poolmicrocloud/tools/internal/secrets"
)

// ArchiveDir is where the database's archive lives on the backup volume.
const ArchiveDir = BackupMount + "/database-archive"

// ArchiveSecretsPath is the Nomad variable of the archive job: the
// replication login's password, copied by poolctl deploy.
func ArchiveSecretsPath(p *config.Pool) string {
	return contract.VariablePath(JobID(p, "", KindArchive))
}

// archive streams the database's WAL from the primary into the backup
// volume and takes base backups there: every moment of the last
// backup_keep_days can be restored, on a node that is not the database's
// when the backup volume is elsewhere.
func (b builder) archive() *Job {
	h := b.pool.Housekeeping
	job := b.newJob("", KindArchive, "service", 70)
	job.Update = oneAtATime("task_states", 10*time.Second, 5*time.Minute, 10*time.Minute)
	args := []string{
		"run",
		"--dir=" + ArchiveDir,
		"--pool=" + b.pool.Name,
		"--password-file=${NOMAD_SECRETS_DIR}/replication.password",
		"--keep-days=" + strconv.Itoa(h.BackupKeepDays),
		"--base-backup-every=24h",
		"--listen=${NOMAD_IP_http}:${NOMAD_PORT_http}",
	}
	task := b.poolctlTask("archive", "archive", args, h.CPUMHz, h.MemoryMB)
	task.User = DatabaseUser
	task.KillTimeout = ptr(30 * time.Second)
	t := secretTemplate("secrets/replication.password", "{{ with nomadVar \""+ArchiveSecretsPath(b.pool)+"\" }}{{ ."+secrets.ItemReplicationPassword+" }}{{ end }}\n")
	// Readable by the postgres user, whose uid differs from node to node.
	t.Perms, t.Uid, t.Gid = ptr("0444"), nil, nil
	t.ChangeMode = ptr("restart")
	task.Templates = []*api.Template{t}
	task.VolumeMounts = []*api.VolumeMount{{Volume: ptr(h.BackupVolume), Destination: ptr(BackupMount)}}
	job.TaskGroups = []*api.TaskGroup{{
		Name:             ptr("archive"),
		Count:            ptr(1),
		Volumes:          hostVolume(h.BackupVolume, false),
		RestartPolicy:    restart(5, 5*time.Minute, 10*time.Second, "delay"),
		ReschedulePolicy: rescheduleForever(30*time.Second, 5*time.Minute),
		EphemeralDisk:    &api.EphemeralDisk{SizeMB: ptr(50)},
		Networks:         []*api.NetworkResource{{DynamicPorts: []api.Port{{Label: "http"}}}},
		Services: []*api.Service{{
			Name:      contract.ArchiveService(b.pool.Name),
			PortLabel: "http",
			Provider:  "consul",
			Checks: []api.ServiceCheck{{
				Name:     "archive serving",
				Type:     "tcp",
				Interval: 10 * time.Second,
				Timeout:  3 * time.Second,
			}},
		}},
		Tasks: []*api.Task{task},
	}}
	return &Job{
		Job:        job,
		Kind:       KindArchive,
		Stage:      StagePeriodic,
		Subcommand: "archive",
		Source:     config.AttrRange(h.Body, "backup_volume", b.pool.NameRange),
		Notes: nomadhcl.Notes{
			"group.archive/volume." + h.BackupVolume: "WAL streamed from the primary (pg_receivewal, through a replication\n" +
				"slot, kept on every member) and base backups, on the backup volume:\n" +
				"give it nodes of its own and the archive outlives the database's\n" +
				"nodes.",
			"group.archive/service." + contract.ArchiveService(b.pool.Name): "What the archive holds, served read-only to the replication login:\n" +
				"poolctl database restore makes a new database from it on the\n" +
				"database's nodes.",
			"group.archive/restart": "A restarted archive resumes where its WAL ends: the slot kept what it\n" +
				"had not received.",
		},
	}
}
