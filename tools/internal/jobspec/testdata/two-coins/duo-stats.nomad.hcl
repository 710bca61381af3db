# duo-stats: statistics roll-up.
# Rendered by `poolctl render` from pool "duo": edit the pool definition, not this file.
job "duo-stats" {
  region      = "global"
  type        = "batch"
  priority    = 50
  datacenters = ["home"]
  # Cron in UTC, so daylight-saving changes neither skip nor repeat a run.
  # prohibit_overlap stops a slow run from being joined by the next one;
  # a missed slot runs once, not once per missed slot.
  periodic {
    crons            = ["*/5 * * * *"]
    prohibit_overlap = true
    time_zone        = "UTC"
  }
  meta {
    pool      = "duo"
    pool_kind = "stats"
  }
  group "stats" {
    count = 1
    # Away from the nodes that hold host volumes: their room is kept for
    # the wallets, the database and its backup, which can run nowhere else.
    affinity {
      attribute = "${meta.pool_host_volumes}"
      value     = "."
      operator  = "regexp"
      weight    = -100
    }
    # The roll-up replaces the hours it counts and pruning keeps every
    # window a payout may read, so one quick retry is safe.
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
    # The tasks reach Consul with this job's own identity (its ACL policy is
    # named like the job; `poolctl policies` writes it).
    consul {
    }
    task "stats" {
      driver = "exec"
      user   = "nobody"
      config {
        command = "/usr/local/bin/poolctl"
        args = [
          "stats",
          "--pool=duo",
          "--database-service=duo-database",
          "--database-credentials=${NOMAD_SECRETS_DIR}/database.credentials",
          "--scheme=ltc=pplns:2",
          "--scheme=tltc=proportional",
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
        destination = "secrets/database.credentials"
        data        = "{{ with nomadVar \"nomad/jobs/duo-stats\" }}{{ .db_user }}:{{ .db_password }}{{ end }}\n"
        change_mode = "noop"
        perms       = "0400"
        uid         = 65534
        gid         = 65534
      }
    }
  }
}
