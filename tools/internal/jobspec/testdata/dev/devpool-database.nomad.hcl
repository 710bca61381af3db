# devpool-database: PostgreSQL: shares, blocks and the payout ledger.
# Rendered by `poolctl render` from pool "devpool": edit the pool definition, not this file.
job "devpool-database" {
  region      = "global"
  type        = "service"
  priority    = 90
  datacenters = ["dc1"]
  update {
    max_parallel      = 1
    health_check      = "checks"
    min_healthy_time  = "10s"
    healthy_deadline  = "5m"
    progress_deadline = "10m"
    auto_revert       = true
  }
  meta {
    pool      = "devpool"
    pool_kind = "database"
  }
  group "database" {
    # One member per node (distinct_hosts), each with its own copy of the
    # database on its node's volume. Patroni keeps one primary, holding a
    # leader lock in Consul, and the others its replicas, one synchronous:
    # a commit is acknowledged once two nodes have it.
    count = 1
    constraint {
      value    = "true"
      operator = "distinct_hosts"
    }
    # A member's data lives on its node's volume: the member runs there
    # and nowhere else. A member placed on a node whose volume is empty
    # copies the primary before it serves.
    volume "pool-data" {
      type   = "host"
      source = "pool-data"
    }
    # A member keeps restarting in place (mode delay): the other members
    # serve meanwhile.
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
      port "api" {
      }
    }
    # Every running member, primary or replica. The pool's processes
    # connect to the one that accepts writes (target_session_attrs).
    service {
      name     = "devpool-database"
      tags     = ["postgresql", "patroni"]
      port     = "db"
      provider = "consul"
      check {
        name     = "postgres running"
        type     = "http"
        path     = "/health"
        port     = "api"
        interval = "5s"
        timeout  = "3s"
        check_restart {
          limit           = 3
          grace           = "5m"
          ignore_warnings = true
        }
      }
      meta {
        member = "${node.unique.name}"
      }
    }
    # The tasks reach Consul with this job's own identity (its ACL policy is
    # named like the job; `poolctl policies` writes it).
    consul {
    }
    task "patroni" {
      driver       = "exec"
      user         = "postgres"
      kill_timeout = "1m"
      # On SIGTERM Patroni stops PostgreSQL (fast shutdown) and, on the
      # primary, hands the leader lock over at once instead of letting
      # it lapse.
      kill_signal = "SIGTERM"
      config {
        command = "/opt/poolctl/bin/poolctl"
        args = [
          "database",
          "member",
          "--name=${node.unique.name}",
          "--namespace=/poolctl/devpool/",
          "--scope=database",
          "--data-dir=/data/postgresql",
          "--bin-dir=/usr/lib/postgresql/15/bin",
          "--listen=${NOMAD_IP_db}:${NOMAD_PORT_db}",
          "--api=${NOMAD_IP_api}:${NOMAD_PORT_api}",
          "--socket-dir=${NOMAD_TASK_DIR}",
          "--secrets=${NOMAD_SECRETS_DIR}/database.json",
          "--dir=${NOMAD_SECRETS_DIR}",
          "--database=pool",
          "--shared-buffers-mb=64",
          "--max-connections=50",
          "--restore-key=poolctl/devpool/database-restore",
          "--allow=127.0.0.0/8",
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
        cpu    = 500
        memory = 320
      }
      logs {
        max_files     = 3
        max_file_size = 5
      }
      template {
        destination = "secrets/database.json"
        data        = "{{ with nomadVar \"nomad/jobs/devpool-database\" }}{\"superuser_password\": \"{{ .superuser_password }}\", \"replication_password\": \"{{ .replication_password }}\", \"rewind_password\": \"{{ .rewind_password }}\", \"pool_user\": \"{{ .db_user }}\", \"pool_verifier\": \"{{ .db_scram }}\", \"web_user\": \"{{ .web_user }}\", \"web_verifier\": \"{{ .web_scram }}\"}{{ end }}\n"
        change_mode = "restart"
        perms       = "0444"
      }
      volume_mount {
        volume      = "pool-data"
        destination = "/data"
      }
    }
  }
}
