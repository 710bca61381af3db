# duo-backup: backups of the database and wallets.
# Rendered by `poolctl render` from pool "duo": edit the pool definition, not this file.
job "duo-backup" {
  region      = "global"
  type        = "batch"
  priority    = 50
  datacenters = ["home"]
  # Cron in UTC, so daylight-saving changes neither skip nor repeat a run.
  # prohibit_overlap stops a slow run from being joined by the next one;
  # a missed slot runs once, not once per missed slot.
  periodic {
    crons            = ["17 3 * * *"]
    prohibit_overlap = true
    time_zone        = "UTC"
  }
  meta {
    pool      = "duo"
    pool_kind = "backup"
  }
  group "backup" {
    count = 1
    volume "pool-data" {
      type   = "host"
      source = "pool-data"
    }
    # A dump is renamed into place only once it reads back whole, and a
    # wallet copy overwrites only its own day's, so one quick retry is safe.
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
    task "backup" {
      driver = "exec"
      user   = "postgres"
      config {
        command = "/usr/local/bin/poolctl"
        args = [
          "backup",
          "--pool=duo",
          "--database-service=duo-database",
          "--database-credentials=${NOMAD_SECRETS_DIR}/database.credentials",
          "--dir=/backup",
          "--keep-days=14",
          "--wallet-backup-dir=/chain/{instance}/backups",
          "--wallet=ltc-wallet:${NOMAD_SECRETS_DIR}/ltc-wallet.credentials",
          "--wallet=tltc-wallet:${NOMAD_SECRETS_DIR}/tltc-wallet.credentials",
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
        data        = "{{ with nomadVar \"nomad/jobs/duo-backup\" }}{{ .db_user }}:{{ .db_password }}{{ end }}\n"
        change_mode = "noop"
        perms       = "0444"
      }
      template {
        destination = "secrets/ltc-wallet.credentials"
        data        = "{{ with nomadVar \"nomad/jobs/duo-backup\" }}{{ .ltc_rpc_user }}:{{ .ltc_rpc_password }}{{ end }}\n"
        change_mode = "noop"
        perms       = "0444"
      }
      template {
        destination = "secrets/tltc-wallet.credentials"
        data        = "{{ with nomadVar \"nomad/jobs/duo-backup\" }}{{ .tltc_rpc_user }}:{{ .tltc_rpc_password }}{{ end }}\n"
        change_mode = "noop"
        perms       = "0444"
      }
      volume_mount {
        volume      = "pool-data"
        destination = "/backup"
      }
    }
  }
}
