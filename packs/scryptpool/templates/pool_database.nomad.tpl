[[- $d := var "database" . -]]
[[- $bin := dir $d.command -]]
# [[ var "pool_name" . ]]-database: PostgreSQL (Patroni members): shares, blocks and the payout ledger.
job [[ printf "%s-database" (var "pool_name" .) | quote ]] {
[[ template "job_head" (dict "ctx" . "kind" "database" "type" "service" "priority" 90) ]]
  update {
    max_parallel      = 1
    health_check      = "checks"
    min_healthy_time  = "10s"
    healthy_deadline  = "5m"
    progress_deadline = "10m"
    auto_revert       = true
  }

  group "database" {
    # One member per node (distinct_hosts), each with its own copy of the
    # database on its node's volume. Patroni keeps one primary, holding a
    # leader lock in Consul, and the others its replicas, one synchronous:
    # a commit is acknowledged once two nodes have it.
    count = [[ $d.instances ]]
    constraint {
      operator = "distinct_hosts"
      value    = "true"
    }
    # A member's data lives on its node's volume: the member runs there
    # and nowhere else. A member placed on a node whose volume is empty
    # copies the primary before it serves.
    volume [[ $d.volume | quote ]] {
      type   = "host"
      source = [[ $d.volume | quote ]]
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
      port "db" {}
      port "api" {}
    }
    # Every running member, primary or replica. The pool's processes
    # connect to the one that accepts writes (target_session_attrs).
    service {
      name     = [[ printf "%s-database" (var "pool_name" .) | quote ]]
      tags     = ["postgresql", "patroni"]
      port     = "db"
      provider = "consul"
      meta {
        member = "${node.unique.name}"
      }
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
    }
[[ template "consul_identity" ]]

    task "patroni" {
      driver       = "exec"
      user         = "postgres"
      kill_timeout = "1m"
      # On SIGTERM Patroni stops PostgreSQL (fast shutdown) and, on the
      # primary, hands the leader lock over at once instead of letting
      # it lapse.
      kill_signal = "SIGTERM"
      config {
        command = [[ var "poolctl" . | quote ]]
        args = [
          "database",
          "member",
          "--name=${node.unique.name}",
          [[ printf "--namespace=/poolctl/%s/" (var "pool_name" .) | quote ]],
          "--scope=database",
          "--data-dir=/data/postgresql",
          [[ printf "--bin-dir=%s" $bin | quote ]],
          "--listen=${NOMAD_IP_db}:${NOMAD_PORT_db}",
          "--api=${NOMAD_IP_api}:${NOMAD_PORT_api}",
          "--socket-dir=${NOMAD_TASK_DIR}",
          "--secrets=${NOMAD_SECRETS_DIR}/database.json",
          "--dir=${NOMAD_SECRETS_DIR}",
          "--database=pool",
          [[ printf "--shared-buffers-mb=%v" (max (div (int $d.memory_mb) 4) 16) | quote ]],
          "--max-connections=50",
          [[ printf "--restore-key=poolctl/%s/database-restore" (var "pool_name" .) | quote ]],
[[- range var "lan" . ]]
          [[ printf "--allow=%s" . | quote ]],
[[- end ]]
        ]
      }
[[ template "poolctl_task_tail" (dict "cpu" $d.cpu_mhz "memory" (add (int $d.memory_mb) 64)) ]]
      # The members' logins (Patroni's) and the pool's login's SCRAM
      # verifier, for `poolctl database member`. Readable by the postgres
      # user, whose uid differs from node to node.
      template {
        destination = "secrets/database.json"
        data        = "{{ with nomadVar \"nomad/jobs/[[ var "pool_name" . ]]-database\" }}{\"superuser_password\": \"{{ .superuser_password }}\", \"replication_password\": \"{{ .replication_password }}\", \"rewind_password\": \"{{ .rewind_password }}\", \"pool_user\": \"{{ .db_user }}\", \"pool_verifier\": \"{{ .db_scram }}\", \"web_user\": \"{{ .web_user }}\", \"web_verifier\": \"{{ .web_scram }}\"}{{ end }}\n"
        change_mode = "restart"
        perms       = "0444"
      }
      volume_mount {
        volume      = [[ $d.volume | quote ]]
        destination = "/data"
      }
    }
  }
}
