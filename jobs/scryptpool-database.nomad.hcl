# scryptpool-database: PostgreSQL: shares, blocks and the payout ledger.
# Rendered by `poolctl render` from pool "scryptpool": edit the pool definition, not this file.
job "scryptpool-database" {
  region      = "global"
  type        = "service"
  priority    = 90
  datacenters = ["home"]
  update {
    max_parallel      = 1
    health_check      = "checks"
    min_healthy_time  = "10s"
    healthy_deadline  = "5m"
    progress_deadline = "10m"
    auto_revert       = true
  }
  meta {
    pool      = "scryptpool"
    pool_kind = "database"
  }
  group "database" {
    count = 1
    # The data lives on one node's host volume, so the database runs there
    # and nowhere else: a copy started empty elsewhere would lose the ledger.
    volume "pool-data" {
      type   = "host"
      source = "pool-data"
    }
    # It cannot move, so it keeps restarting in place (mode delay) for as
    # long as it takes.
    restart {
      interval = "5m"
      attempts = 3
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
      size = 100
    }
    network {
      port "db" {
      }
    }
    service {
      name     = "scryptpool-database"
      tags     = ["postgresql"]
      port     = "db"
      provider = "consul"
      check {
        name    = "accepts connections"
        type    = "script"
        command = "/usr/lib/postgresql/15/bin/pg_isready"
        args = [
          "--host=${NOMAD_IP_db}",
          "--port=${NOMAD_PORT_db}",
          "--timeout=3",
        ]
        interval = "10s"
        timeout  = "5s"
        task     = "postgres"
        check_restart {
          limit           = 3
          grace           = "2m"
          ignore_warnings = true
        }
      }
    }
    task "initdb" {
      driver = "exec"
      user   = "postgres"
      lifecycle {
        hook = "prestart"
      }
      config {
        command = "/bin/sh"
        args = [
          "-c",
          "set -e\nif ! test -s \"$PGDATA/PG_VERSION\"; then /usr/lib/postgresql/15/bin/initdb --username=postgres --auth-local=peer --auth-host=scram-sha-256 --encoding=UTF8 --no-locale; fresh=1; fi\nverifier=$(cat \"$NOMAD_SECRETS_DIR/pool.scram\")\ntest -n \"$verifier\" || { echo \"no database verifier rendered from the Nomad variable\" >&2; exit 1; }\n{ echo \"DO \\$\\$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'pool') THEN CREATE ROLE pool LOGIN; END IF; END\\$\\$;\"; echo \"ALTER ROLE pool PASSWORD '$verifier';\"; test -z \"$fresh\" || echo \"CREATE DATABASE pool OWNER pool;\"; } | /usr/lib/postgresql/15/bin/postgres --single -D \"$PGDATA\" postgres >/dev/null",
        ]
      }
      env {
        PGDATA = "/data/postgresql"
      }
      resources {
        cpu    = 200
        memory = 64
      }
      logs {
        max_files     = 1
        max_file_size = 1
      }
      template {
        destination = "secrets/pool.scram"
        data        = "{{ with nomadVar \"nomad/jobs/scryptpool-database\" }}{{ .db_scram }}{{ end }}"
        change_mode = "noop"
        perms       = "0444"
      }
      volume_mount {
        volume      = "pool-data"
        destination = "/data"
      }
    }
    task "postgres" {
      driver       = "exec"
      user         = "postgres"
      kill_timeout = "1m"
      # SIGINT is PostgreSQL's fast shutdown: it ends sessions and writes a
      # checkpoint, so the next start needs no crash recovery.
      kill_signal = "SIGINT"
      config {
        command = "/usr/lib/postgresql/15/bin/postgres"
        args = [
          "--listen_addresses=${NOMAD_IP_db}",
          "--port=${NOMAD_PORT_db}",
          "--unix_socket_directories=${NOMAD_TASK_DIR}",
          "--hba_file=${NOMAD_TASK_DIR}/pg_hba.conf",
          "--shared_buffers=64MB",
          "--max_connections=50",
          "--dynamic_shared_memory_type=mmap",
          "--logging_collector=off",
        ]
      }
      env {
        PGDATA = "/data/postgresql"
      }
      resources {
        cpu    = 800
        memory = 256
      }
      logs {
        max_files     = 3
        max_file_size = 5
      }
      template {
        destination   = "local/pg_hba.conf"
        data          = <<EOT
# TYPE DATABASE USER ADDRESS METHOD
local all postgres peer
host all all 127.0.0.1/32 scram-sha-256
host all all {{ env "NOMAD_IP_db" }}/32 scram-sha-256
host all all 192.168.1.0/24 scram-sha-256
EOT
        change_mode   = "signal"
        change_signal = "SIGHUP"
        perms         = "0600"
      }
      volume_mount {
        volume      = "pool-data"
        destination = "/data"
      }
    }
  }
}
