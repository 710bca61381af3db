# duo-archive: the database's archive: WAL and base backups, for point-in-time restores.
# Rendered by `poolctl render` from pool "duo": edit the pool definition, not this file.
job "duo-archive" {
  region      = "global"
  type        = "service"
  priority    = 70
  datacenters = ["home"]
  update {
    max_parallel      = 1
    health_check      = "task_states"
    min_healthy_time  = "10s"
    healthy_deadline  = "5m"
    progress_deadline = "10m"
    auto_revert       = true
  }
  meta {
    pool      = "duo"
    pool_kind = "archive"
  }
  group "archive" {
    count = 1
    # WAL streamed from the primary (pg_receivewal, through a replication
    # slot, kept on every member) and base backups, on the backup volume:
    # give it nodes of its own and the archive outlives the database's
    # nodes.
    volume "pool-data" {
      type   = "host"
      source = "pool-data"
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
      name     = "duo-archive"
      port     = "http"
      provider = "consul"
      check {
        name     = "archive serving"
        type     = "tcp"
        interval = "10s"
        timeout  = "3s"
      }
    }
    # The tasks reach Consul with this job's own identity (its ACL policy is
    # named like the job; `poolctl policies` writes it).
    consul {
    }
    task "archive" {
      driver       = "exec"
      user         = "postgres"
      kill_timeout = "30s"
      config {
        command = "/usr/local/bin/poolctl"
        args = [
          "archive",
          "run",
          "--dir=/backup/database-archive",
          "--pool=duo",
          "--password-file=${NOMAD_SECRETS_DIR}/replication.password",
          "--keep-days=14",
          "--base-backup-every=24h",
          "--listen=${NOMAD_IP_http}:${NOMAD_PORT_http}",
        ]
      }
      constraint {
        attribute = "${meta.consul_http_addr}"
        operator  = "is_set"
      }
      constraint {
        attribute = "${meta.consul_cacert}"
        operator  = "is_set"
      }
      env {
        CONSUL_CACERT    = "${meta.consul_cacert}"
        CONSUL_HTTP_ADDR = "${meta.consul_http_addr}"
      }
      resources {
        cpu    = 200
        memory = 128
      }
      logs {
        max_files     = 3
        max_file_size = 5
      }
      template {
        destination = "secrets/replication.password"
        data        = "{{ with nomadVar \"nomad/jobs/duo-archive\" }}{{ .replication_password }}{{ end }}\n"
        change_mode = "restart"
        perms       = "0444"
      }
      volume_mount {
        volume      = "pool-data"
        destination = "/backup"
      }
    }
  }
}
