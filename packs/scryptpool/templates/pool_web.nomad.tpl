[[- $w := var "web" . -]]
# [[ var "pool_name" . ]]-web: web pages and the MiningCore-compatible API.
job [[ printf "%s-web" (var "pool_name" .) | quote ]] {
[[ template "job_head" (dict "ctx" . "kind" "web" "type" "service" "priority" 50) ]]
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

  group "web" {
    count = [[ $w.instances ]]
    # Leave Consul first, then get SIGTERM: the server finishes the requests
    # under way and stops.
    shutdown_delay = "5s"
[[ template "consul_identity" ]]
[[ template "spread_nodes" ]]
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
[[ template "keep_off_volume_nodes" ]]
    # A static port on every node it runs on, the address the LAN (or a reverse
    # proxy on it) uses; two instances therefore never share a node.
    network {
      port "http" {
        static = [[ $w.port ]]
      }
    }
    service {
      name     = [[ printf "%s-web" (var "pool_name" .) | quote ]]
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

    # Reads what it shows from the database under a read-only login (it can
    # change nothing there), the coins' settings from the pool definition
    # deploy recorded in Consul and each coin's pool address, following both
    # with blocking queries. Its pages being down does not fail the pool's
    # check: the pool still mines and pays.
    task "web" {
      driver       = "exec"
      user         = "nobody"
      kill_signal  = "SIGTERM"
      kill_timeout = "10s"
      config {
        command = [[ var "poolctl" . | quote ]]
        args = [
          "web",
          [[ printf "--pool=%s" (var "pool_name" .) | quote ]],
          "--listen=${NOMAD_ADDR_http}",
          [[ printf "--database-service=%s-database" (var "pool_name" .) | quote ]],
          "--database-credentials=${NOMAD_SECRETS_DIR}/database.credentials",
        ]
      }
      template {
        destination = "secrets/database.credentials"
        change_mode = "noop"
        perms       = "0400"
        uid         = 65534
        gid         = 65534
        data        = <<EOT
{{ with nomadVar "nomad/jobs/[[ var "pool_name" . ]]-web" }}{{ .db_user }}:{{ .db_password }}{{ end }}
EOT
      }
[[ template "poolctl_task_tail" (dict "cpu" $w.cpu_mhz "memory" $w.memory_mb) ]]
    }
  }
}
