# devpool-backup: backups of the database and wallets.
# Rendered by `poolctl render` from pool "devpool": edit the pool definition, not this file.
job "devpool-backup" {
  region      = "global"
  type        = "batch"
  priority    = 50
  datacenters = ["dc1"]
  # Cron in UTC, so daylight-saving changes neither skip nor repeat a run.
  # prohibit_overlap stops a slow run from being joined by the next one;
  # a missed slot runs once, not once per missed slot.
  periodic {
    crons            = ["0 * * * *"]
    prohibit_overlap = true
    time_zone        = "UTC"
  }
  meta {
    pool      = "devpool"
    pool_kind = "backup"
  }
  group "backup" {
    count = 1
    volume "pool-data" {
      type   = "host"
      source = "pool-data"
    }
    restart {
      interval = "10m"
      attempts = 1
      delay    = "15s"
      mode     = "fail"
    }
    # A failed run is not moved and rerun by Nomad: the next scheduled run
    # picks up where it stopped, from what the database and wallet record.
    reschedule {
      attempts  = 0
      unlimited = false
    }
    ephemeral_disk {
      size = 100
    }
    task "backup" {
      driver = "exec"
      user   = "postgres"
      config {
        command = "/opt/poolctl/bin/poolctl"
        args = [
          "backup",
          "--pool=devpool",
          "--database-service=devpool-database",
          "--dir=/backup",
          "--keep-days=14",
          "--wallet-service=ltc-wallet",
        ]
      }
      constraint {
        attribute = "${meta.consul_http_addr}"
        operator  = "is_set"
      }
      env {
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
      volume_mount {
        volume      = "pool-data"
        destination = "/backup"
      }
    }
  }
}
