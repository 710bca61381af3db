# tltc-stratum: stratum servers: where miners connect.
# Rendered by `poolctl render` from pool "duo": edit the pool definition, not this file.
job "tltc-stratum" {
  region      = "global"
  type        = "service"
  priority    = 70
  datacenters = ["home"]
  # One stratum server at a time: miners reconnect to the other instance
  # (client.reconnect) while this one is replaced.
  update {
    max_parallel      = 1
    health_check      = "checks"
    min_healthy_time  = "10s"
    healthy_deadline  = "2m"
    progress_deadline = "5m"
    auto_revert       = true
  }
  meta {
    pool      = "duo"
    pool_coin = "tltc"
    pool_kind = "stratum"
  }
  group "stratum" {
    count = 2
    # Leave Consul first, then get SIGTERM: the server sends client.reconnect
    # and drains, so miners move without losing shares. With a floating address,
    # keepalived has moved it off this node by then (its check fails within 6 s),
    # and client.reconnect sends miners to it.
    shutdown_delay = "10s"
    # Away from the nodes that hold host volumes: their room is kept for
    # the wallets, the database and its backup, which can run nowhere else.
    affinity {
      attribute = "${meta.pool_host_volumes}"
      value     = "."
      operator  = "regexp"
      weight    = -100
    }
    spread {
      attribute = "${node.unique.id}"
      weight    = 100
    }
    # Restarting in place is cheap (and keeps the share journal). Five failures
    # in five minutes point at the node, so the allocation moves.
    restart {
      interval = "5m"
      attempts = 5
      delay    = "5s"
      mode     = "fail"
    }
    reschedule {
      delay          = "15s"
      delay_function = "exponential"
      max_delay      = "5m"
      unlimited      = true
    }
    # The share journal lives in the task's local/: a share is answered
    # "accepted" only once it is on disk there. After a power cut the restarted
    # task writes what the database never got; a replacement allocation prefers
    # this node (sticky) or copies the journal from it (migrate). Not alloc/data:
    # after a node reboots, Nomad restores the allocation without mounting alloc/
    # into the task again, and the journal would not be found.
    ephemeral_disk {
      sticky  = true
      migrate = true
      size    = 100
    }
    # A static port on every node it runs on, the address miners configure;
    # two instances therefore never share a node.
    network {
      port "stratum" {
        static = 3334
      }
      port "metrics" {
      }
    }
    service {
      name     = "tltc-stratum"
      tags     = ["testnet", "stratum"]
      port     = "stratum"
      provider = "consul"
      check {
        name     = "stratum port open"
        type     = "tcp"
        interval = "10s"
        timeout  = "2s"
        check_restart {
          limit = 3
          grace = "30s"
        }
      }
      check {
        name      = "stratum answers"
        type      = "http"
        path      = "/v1/check"
        port      = "metrics"
        interval  = "10s"
        timeout   = "5s"
        on_update = "ignore_warnings"
      }
      meta {
        coin    = "tltc"
        network = "testnet"
      }
    }
    service {
      name     = "tltc-stratum-metrics"
      tags     = ["prometheus"]
      port     = "metrics"
      provider = "consul"
      check {
        name     = "metrics served"
        type     = "http"
        path     = "/metrics"
        interval = "30s"
        timeout  = "5s"
      }
      meta {
        coin         = "tltc"
        metrics_path = "/metrics"
      }
    }
    # The tasks reach Consul with this job's own identity (its ACL policy is
    # named like the job; `poolctl policies` writes it).
    consul {
    }
    task "stratum" {
      driver       = "exec"
      user         = "nobody"
      kill_timeout = "30s"
      kill_signal  = "SIGTERM"
      config {
        command = "/usr/local/bin/poolctl"
        args = [
          "stratum",
          "--pool=duo",
          "--coin=tltc",
          "--network=testnet",
          "--listen=${NOMAD_ADDR_stratum}",
          "--metrics-listen=${NOMAD_ADDR_metrics}",
          "--wallet-service=tltc-wallet",
          "--credentials=${NOMAD_SECRETS_DIR}/wallet.credentials",
          "--database-service=duo-database",
          "--database-credentials=${NOMAD_SECRETS_DIR}/database.credentials",
          "--stratum-service=tltc-stratum",
          "--fee-percent=0.5",
          "--difficulty=16",
          "--min-difficulty=1",
          "--max-difficulty=65536",
          "--target-share-seconds=15",
          "--share-journal=${NOMAD_TASK_DIR}/share-journal",
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
        memory = 64
      }
      logs {
        max_files     = 3
        max_file_size = 5
      }
      template {
        destination = "secrets/wallet.credentials"
        data        = "{{ with nomadVar \"nomad/jobs/tltc-stratum\" }}{{ .rpc_user }}:{{ .rpc_password }}{{ end }}\n"
        change_mode = "noop"
        perms       = "0400"
        uid         = 65534
        gid         = 65534
      }
      template {
        destination = "secrets/database.credentials"
        data        = "{{ with nomadVar \"nomad/jobs/tltc-stratum\" }}{{ .db_user }}:{{ .db_password }}{{ end }}\n"
        change_mode = "noop"
        perms       = "0400"
        uid         = 65534
        gid         = 65534
      }
    }
  }
}
