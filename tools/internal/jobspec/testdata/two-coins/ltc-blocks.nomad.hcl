# ltc-blocks: block tracking: follows found blocks to maturity or orphaning.
# Rendered by `poolctl render` from pool "duo": edit the pool definition, not this file.
job "ltc-blocks" {
  region      = "global"
  type        = "batch"
  priority    = 50
  datacenters = ["home"]
  # Cron in UTC, so daylight-saving changes neither skip nor repeat a run.
  # prohibit_overlap stops a slow run from being joined by the next one;
  # a missed slot runs once, not once per missed slot.
  periodic {
    crons            = ["*/2 * * * *"]
    prohibit_overlap = true
    time_zone        = "UTC"
  }
  meta {
    pool      = "duo"
    pool_coin = "ltc"
    pool_kind = "blocks"
  }
  group "blocks" {
    count = 1
    # Away from the nodes that hold host volumes: their room is kept for
    # the wallets, the database and its backup, which can run nowhere else.
    affinity {
      attribute = "${meta.pool_host_volumes}"
      value     = "."
      operator  = "regexp"
      weight    = -100
    }
    # Block tracking is idempotent (a block is credited once, by its hash),
    # so one quick retry is safe.
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
    task "blocks" {
      driver = "exec"
      user   = "nobody"
      config {
        command = "/usr/local/bin/poolctl"
        args = [
          "blocks",
          "--pool=duo",
          "--coin=ltc",
          "--network=mainnet",
          "--wallet-service=ltc-wallet",
          "--credentials=${NOMAD_SECRETS_DIR}/wallet.credentials",
          "--database-service=duo-database",
          "--database-credentials=${NOMAD_SECRETS_DIR}/database.credentials",
          "--confirmations=100",
          "--scheme=pplns",
          "--window=2",
          "--fee-percent=1",
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
        destination = "secrets/wallet.credentials"
        data        = "{{ with nomadVar \"nomad/jobs/ltc-blocks\" }}{{ .rpc_user }}:{{ .rpc_password }}{{ end }}\n"
        change_mode = "noop"
        perms       = "0400"
        uid         = 65534
        gid         = 65534
      }
      template {
        destination = "secrets/database.credentials"
        data        = "{{ with nomadVar \"nomad/jobs/ltc-blocks\" }}{{ .db_user }}:{{ .db_password }}{{ end }}\n"
        change_mode = "noop"
        perms       = "0400"
        uid         = 65534
        gid         = 65534
      }
    }
  }
}
