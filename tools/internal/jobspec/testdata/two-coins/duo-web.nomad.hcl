# duo-web: web pages and the MiningCore-compatible API.
# Rendered by `poolctl render` from pool "duo": edit the pool definition, not this file.
job "duo-web" {
  region      = "global"
  type        = "service"
  priority    = 50
  datacenters = ["home"]
  # One web server at a time: the other keeps answering while this one is
  # replaced.
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
    pool_kind = "web"
  }
  group "web" {
    count = 2
    # Leave Consul first, then get SIGTERM: the server finishes the requests
    # under way and stops.
    shutdown_delay = "5s"
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
    ephemeral_disk {
      size = 50
    }
    # A static port on every node it runs on, the address the LAN (or a reverse
    # proxy on it) uses; two instances therefore never share a node.
    network {
      port "http" {
        static = 8080
      }
    }
    service {
      name     = "duo-web"
      tags     = ["http", "api"]
      port     = "http"
      provider = "consul"
      check {
        name     = "api answers"
        type     = "http"
        path     = "/api/health-check"
        interval = "10s"
        timeout  = "2s"
        check_restart {
          limit = 3
          grace = "30s"
        }
      }
    }
    # The tasks reach Consul with this job's own identity (its ACL policy is
    # named like the job; `poolctl policies` writes it).
    consul {
    }
    # Reads what it shows from the database under a read-only login (it can
    # change nothing there), the coins' settings from the pool definition
    # deploy recorded in Consul and each coin's pool address, following both
    # with blocking queries. Its pages being down does not fail the pool's
    # check: the pool still mines and pays.
    task "web" {
      driver       = "exec"
      user         = "nobody"
      kill_timeout = "10s"
      kill_signal  = "SIGTERM"
      config {
        command = "/usr/local/bin/poolctl"
        args = [
          "web",
          "--pool=duo",
          "--listen=${NOMAD_ADDR_http}",
          "--database-service=duo-database",
          "--database-credentials=${NOMAD_SECRETS_DIR}/database.credentials",
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
        cpu    = 100
        memory = 64
      }
      logs {
        max_files     = 3
        max_file_size = 5
      }
      template {
        destination = "secrets/database.credentials"
        data        = "{{ with nomadVar \"nomad/jobs/duo-web\" }}{{ .db_user }}:{{ .db_password }}{{ end }}\n"
        change_mode = "noop"
        perms       = "0400"
        uid         = 65534
        gid         = 65534
      }
    }
  }
}
