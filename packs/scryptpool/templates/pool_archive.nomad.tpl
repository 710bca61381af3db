[[- $h := var "housekeeping" . -]]
# [[ var "pool_name" . ]]-archive: the database's archive: WAL and base backups, for point-in-time restores.
job [[ printf "%s-archive" (var "pool_name" .) | quote ]] {
[[ template "job_head" (dict "ctx" . "kind" "archive" "type" "service" "priority" 70) ]]
  update {
    max_parallel      = 1
    health_check      = "task_states"
    min_healthy_time  = "10s"
    healthy_deadline  = "5m"
    progress_deadline = "10m"
    auto_revert       = true
  }

  group "archive" {
    count = 1
    # WAL streamed from the primary (pg_receivewal, through a replication
    # slot, kept on every member) and base backups, on the backup volume:
    # give it nodes of its own and the archive outlives the database's
    # nodes.
    volume [[ $h.backup_volume | quote ]] {
      type   = "host"
      source = [[ $h.backup_volume | quote ]]
    }
    # A restarted archive resumes where its WAL ends: the slot kept what it
    # had not received.
    restart {
      interval = "5m"
      attempts = 5
      delay    = "10s"
      mode     = "delay"
    }
    reschedule {
      delay          = "30s"
      delay_function = "exponential"
      max_delay      = "5m"
      unlimited      = true
    }
    ephemeral_disk {
      size = 50
    }
    network {
      port "http" {
      }
    }
    # What the archive holds, served read-only to the replication login:
    # poolctl database restore makes a new database from it on the
    # database's nodes.
    service {
      name     = [[ printf "%s-archive" (var "pool_name" .) | quote ]]
      port     = "http"
      provider = "consul"
      check {
        name     = "archive serving"
        type     = "tcp"
        interval = "10s"
        timeout  = "3s"
      }
    }
[[ template "consul_identity" ]]

    task "archive" {
      driver       = "exec"
      user         = "postgres"
      kill_timeout = "30s"
      config {
        command = [[ var "poolctl" . | quote ]]
        args = [
          "archive",
          "run",
          "--dir=/backup/database-archive",
          [[ printf "--pool=%s" (var "pool_name" .) | quote ]],
          "--password-file=${NOMAD_SECRETS_DIR}/replication.password",
          [[ printf "--keep-days=%v" $h.backup_keep_days | quote ]],
          "--base-backup-every=24h",
          "--listen=${NOMAD_IP_http}:${NOMAD_PORT_http}",
        ]
      }
[[ template "poolctl_task_tail" (dict "cpu" $h.cpu_mhz "memory" $h.memory_mb) ]]
      # The replication login's password, copied by poolctl deploy.
      # Readable by the postgres user, whose uid differs from node to node.
      template {
        destination = "secrets/replication.password"
        data        = "{{ with nomadVar \"nomad/jobs/[[ var "pool_name" . ]]-archive\" }}{{ .replication_password }}{{ end }}\n"
        change_mode = "restart"
        perms       = "0444"
      }
      volume_mount {
        volume      = [[ $h.backup_volume | quote ]]
        destination = "/backup"
      }
    }
  }
}
