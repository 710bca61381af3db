[[- /*
  The pool's jobs, one define per kind. The coin_N_<kind> templates render
  them for the Nth coin (up to four coins), the pool_<kind> templates once.
  Each define takes (dict "ctx" . "coin" $coin); pool-wide ones take the
  template context itself. They must stay equivalent to what `poolctl
  render` writes: a test renders both and compares the parsed jobs.
*/ -]]

[[- define "pool_meta" -]]
  meta {
    pool      = [[ var "pool_name" .ctx | quote ]]
    [[- if .coin ]]
    pool_coin = [[ .coin.name | quote ]]
    [[- end ]]
    pool_kind = [[ .kind | quote ]]
  }
[[- end -]]

[[- define "job_head" -]]
  region      = [[ var "region" .ctx | quote ]]
  datacenters = [[ list (var "datacenter" .ctx) | toJson ]]
  type        = [[ .type | quote ]]
  priority    = [[ .priority ]]
[[ template "pool_meta" . ]]
[[- end -]]

[[- define "poolctl_task_tail" -]]
      constraint {
        attribute = "${meta.consul_http_addr}"
        operator  = "is_set"
      }
      constraint {
        attribute = "${meta.consul_cacert}"
        operator  = "is_set"
      }
      # Each node says where its Consul agent answers and, when that is
      # HTTPS, the CA file tasks verify it with (client meta, set by
      # provisioning and by poolctl dev up; empty without TLS).
      env {
        CONSUL_HTTP_ADDR = "${meta.consul_http_addr}"
        CONSUL_CACERT    = "${meta.consul_cacert}"
      }
      resources {
        cpu    = [[ .cpu ]]
        memory = [[ .memory ]]
      }
      logs {
        max_files     = 3
        max_file_size = 5
      }
[[- end -]]

[[- define "spread_nodes" -]]
    # Instances on different nodes where there are several: one power cut
    # takes at most one of them.
    spread {
      attribute = "${node.unique.id}"
      weight    = 100
    }
[[- end -]]

[[- define "keep_off_volume_nodes" -]]
    # Away from the nodes that hold host volumes: their room is kept for
    # the wallets, the database and its backup, which can run nowhere else.
    affinity {
      attribute = "${meta.pool_host_volumes}"
      operator  = "regexp"
      value     = "."
      weight    = -100
    }
[[- end -]]

[[- define "consul_identity" -]]
    # The tasks reach Consul with this job's own identity (its ACL policy is
    # named like the job; `poolctl policies` writes it).
    consul {
    }
[[- end -]]

[[- define "wallet" -]]
[[- $c := .coin -]]
[[- $w := $c.wallet -]]
[[- $startup := "15m" -]][[- $progress := "25m" -]][[- $kill := "45s" -]]
[[- if eq $c.network "regtest" -]][[- $startup = "1m" -]][[- $progress = "11m" -]][[- $kill = "3s" -]][[- end -]]
[[- $net := list -]]
[[- if eq $c.network "regtest" -]][[- $net = list "-regtest" "-maxtipage=2147483647" "-fallbackfee=0.0001" -]][[- end -]]
[[- if eq $c.network "testnet" -]][[- $net = list "-testnet" -]][[- end -]]
[[- $section := get (dict "mainnet" "main" "testnet" "test" "regtest" "regtest") $c.network -]]
[[- $secrets := printf "nomad/jobs/%s-wallet" $c.name -]]
[[- $datadir := "-datadir=/chain/${NOMAD_ALLOC_INDEX}" -]]
# [[ $c.name ]]-wallet: wallets: the coin daemons that build work and pay miners.
job [[ printf "%s-wallet" $c.name | quote ]] {
[[ template "job_head" (dict "ctx" .ctx "coin" $c "kind" "wallet" "type" "service" "priority" 80) ]]
  update {
    stagger           = "30s"
    max_parallel      = 1
    health_check      = "checks"
    min_healthy_time  = "10s"
    healthy_deadline  = [[ $startup | quote ]]
    progress_deadline = [[ $progress | quote ]]
    auto_revert       = true
  }

  group "wallet" {
    count          = [[ $w.instances ]]
    shutdown_delay = "2s"
[[ template "spread_nodes" ]]
[[ template "consul_identity" ]]
    volume [[ $w.volume | quote ]] {
      type   = "host"
      source = [[ $w.volume | quote ]]
    }
    restart {
      interval = "10m"
      attempts = 5
      delay    = "2s"
      mode     = "fail"
    }
    reschedule {
      delay          = "30s"
      delay_function = "exponential"
      max_delay      = "10m"
      unlimited      = true
    }
    ephemeral_disk {
      size = 150
    }
    network {
      port "rpc" {}
      port "p2p" {}
      port "probe" {}
    }
    service {
      name     = [[ printf "%s-wallet" $c.name | quote ]]
      tags     = [[ list $c.network "rpc" | toJson ]]
      port     = "rpc"
      provider = "consul"
      # The probe beside the wallet answers from its last poll: a hung
      # wallet is restarted, a lagging one only taken out of service.
      check {
        name     = "rpc answers"
        type     = "http"
        path     = "/v1/live"
        port     = "probe"
        interval = "1s"
        timeout  = "1s"
        check_restart {
          limit           = 2
          grace           = [[ $startup | quote ]]
          ignore_warnings = true
        }
      }
      check {
        name      = "in sync"
        type      = "http"
        path      = "/v1/sync"
        port      = "probe"
        interval  = "1s"
        timeout   = "1s"
        on_update = "ignore"
      }
      meta {
        coin     = [[ $c.name | quote ]]
        instance = "${NOMAD_ALLOC_INDEX}"
        network  = [[ $c.network | quote ]]
        probe    = "${NOMAD_ADDR_probe}"
      }
    }
    service {
      name     = [[ printf "%s-wallet-p2p" $c.name | quote ]]
      tags     = [[ list $c.network "p2p" | toJson ]]
      port     = "p2p"
      provider = "consul"
      check {
        name     = "p2p port open"
        type     = "tcp"
        interval = "10s"
        timeout  = "2s"
      }
      meta {
        coin     = [[ $c.name | quote ]]
        instance = "${NOMAD_ALLOC_INDEX}"
        network  = [[ $c.network | quote ]]
      }
    }

    task "datadir" {
      driver = "exec"
      user   = "nobody"
      lifecycle {
        hook = "prestart"
      }
      config {
        command = "/bin/mkdir"
        args    = ["-p", "/chain/${NOMAD_ALLOC_INDEX}", "/chain/${NOMAD_ALLOC_INDEX}/backups"]
      }
      resources {
        cpu    = 50
        memory = 16
      }
      logs {
        max_files     = 1
        max_file_size = 1
      }
      volume_mount {
        volume      = [[ $w.volume | quote ]]
        destination = "/chain"
      }
    }

    task "daemon" {
      driver       = "exec"
      user         = "nobody"
      kill_timeout = [[ $kill | quote ]]
      kill_signal  = "SIGTERM"
      # poolctl runs the daemon as its child and restarts it with
      # -reindex-chainstate or -reindex when its block database is corrupt.
      config {
        command = [[ var "poolctl" .ctx | quote ]]
        [[- $args := concat (list "wallet" "daemon" (printf "--name=%s/${NOMAD_ALLOC_INDEX}" $c.name) "--" $w.command) $net (list $datadir "-conf=${NOMAD_SECRETS_DIR}/litecoin.conf" "-server=1" "-printtoconsole=1" "-nodebuglogfile" "-bind=${NOMAD_IP_p2p}:${NOMAD_PORT_p2p}" "-rpcbind=${NOMAD_IP_rpc}" "-rpcport=${NOMAD_PORT_rpc}" "-rpcallowip=127.0.0.1" "-rpcallowip=${NOMAD_IP_rpc}") ]]
        [[- range (var "lan" .ctx) ]][[ $args = append $args (printf "-rpcallowip=%s" .) ]][[ end ]]
        [[- $args = concat $args (list (printf "-dbcache=%v" $w.dbcache_mb) (printf "-maxconnections=%v" $w.max_connections) (printf "-rpcthreads=%v" (add 4 (mul 2 $c.stratum.instances))) "-upnp=0" "-listenonion=0" "-wallet=pool") ]]
        [[- if gt (int $w.prune_mb) 0 ]][[ $args = append $args (printf "-prune=%v" $w.prune_mb) ]][[ end ]]
        args = [[ $args | toJson ]]
      }
      resources {
        cpu    = [[ $w.cpu_mhz ]]
        memory = [[ $w.memory_mb ]]
      }
      logs {
        max_files     = 3
        max_file_size = 5
      }
      # RPC login from the Nomad variable poolctl deploy creates; peers as
      # Consul knew them at start (the probe keeps them connected).
      template {
        destination = "secrets/litecoin.conf"
        change_mode = "noop"
        perms       = "0400"
        uid         = 65534
        gid         = 65534
        data        = <<EOT
# Rendered by Nomad: the RPC logins from the Nomad variable [[ $secrets ]]
# (hashed: the daemon keeps no password), and the coin's other wallets as
# peers, as Consul knew them when this instance started; the probe keeps
# them connected after that.
{{ with nomadVar "[[ $secrets ]]" }}rpcauth={{ .rpcauth }}
rpcauth={{ .rpcauth_stratum }}
rpcauth={{ .rpcauth_blocks }}
rpcauth={{ .rpcauth_payout }}
rpcauth={{ .rpcauth_backup }}
{{ end }}
# Each job's login may call only the methods it needs; the wallet's own
# login (its probe's and the operator's) is not limited.
rpcwhitelistdefault=0
rpcwhitelist=pool-stratum:getaddressinfo,getblockcount,getnewaddress,getblocktemplate,submitblock,getbestblockhash
rpcwhitelist=pool-blocks:getaddressinfo,getwalletinfo,getblockcount,getblockchaininfo,getnetworkinfo,getblock,getblockhash,gettransaction
rpcwhitelist=pool-payout:getaddressinfo,getwalletinfo,getblockcount,getblockchaininfo,getnetworkinfo,getblock,getblockhash,gettransaction,listtransactions,getbalances,send,sendrawtransaction
rpcwhitelist=pool-backup:backupwallet
[[ printf "[%s]" $section ]]
{{ range service "[[ $c.name ]]-wallet-p2p|any" }}{{ if ne (printf "%s:%d" .Address .Port) (env "NOMAD_ADDR_p2p") }}addnode={{ .Address }}:{{ .Port }}
{{ end }}{{ end }}
[[ if $w.peers ]]# The pool definition's peers, kept connected by the daemon.
[[ range $w.peers ]]addnode=[[ . ]]
[[ end ]][[ end ]]EOT
      }
      volume_mount {
        volume      = [[ $w.volume | quote ]]
        destination = "/chain"
      }
    }

    task "probe" {
      driver       = "exec"
      user         = "nobody"
      kill_timeout = "5s"
      lifecycle {
        hook    = "poststart"
        sidecar = true
      }
      config {
        command = [[ var "poolctl" .ctx | quote ]]
        args = [[ list "wallet" "probe"
          "--rpc=${NOMAD_ADDR_rpc}"
          "--p2p=${NOMAD_ADDR_p2p}"
          "--listen=${NOMAD_ADDR_probe}"
          "--credentials=${NOMAD_SECRETS_DIR}/rpc.credentials"
          (printf "--wallet-service=%s-wallet" $c.name)
          (printf "--p2p-service=%s-wallet-p2p" $c.name)
          "--wallet-name=pool"
          (printf "--max-lag-blocks=%v" $w.max_lag_blocks)
          (printf "--max-tip-age=%s" $w.max_tip_age)
          "--backups-dir=/chain/${NOMAD_ALLOC_INDEX}/backups"
          "--backup-login-file=${NOMAD_SECRETS_DIR}/backup.login"
          "--hd-seed-file=${NOMAD_SECRETS_DIR}/hd.seed" | toJson ]]
      }
      template {
        destination = "secrets/rpc.credentials"
        change_mode = "noop"
        perms       = "0400"
        uid         = 65534
        gid         = 65534
        data        = <<EOT
{{ with nomadVar "[[ $secrets ]]" }}{{ .rpc_user }}:{{ .rpc_password }}{{ end }}
EOT
      }
      # The backup job's wallet login: the probe serves the wallet's
      # copies to it only, from the chain volume mounted read-only.
      template {
        destination = "secrets/backup.login"
        change_mode = "noop"
        perms       = "0400"
        uid         = 65534
        gid         = 65534
        data        = <<EOT
{{ with nomadVar "[[ $secrets ]]" }}{{ .rpc_user_backup }}:{{ .rpc_password_backup }}{{ end }}
EOT
      }
      # The pool's HD seed, from a variable only this task may read: every
      # instance's wallet holds the pool's keys.
      template {
        destination = "secrets/hd.seed"
        change_mode = "noop"
        perms       = "0400"
        uid         = 65534
        gid         = 65534
        data        = <<EOT
{{ with nomadVar "[[ $secrets ]]/wallet/probe" }}{{ .hd_seed }}{{ end }}
EOT
      }
      volume_mount {
        volume      = [[ $w.volume | quote ]]
        destination = "/chain"
        read_only   = true
      }
[[ template "poolctl_task_tail" (dict "cpu" 100 "memory" 64) ]]
    }
  }
}
[[- end -]]

[[- define "stratum" -]]
[[- $c := .coin -]]
[[- $s := $c.stratum -]]
# [[ $c.name ]]-stratum: stratum servers: where miners connect.
job [[ printf "%s-stratum" $c.name | quote ]] {
[[ template "job_head" (dict "ctx" .ctx "coin" $c "kind" "stratum" "type" "service" "priority" 70) ]]
  update {
    max_parallel      = 1
    health_check      = "checks"
    min_healthy_time  = "10s"
    healthy_deadline  = "2m"
    progress_deadline = "5m"
    auto_revert       = true
  }

  group "stratum" {
    count          = [[ $s.instances ]]
    shutdown_delay = "10s"
[[ template "spread_nodes" ]]
[[ template "consul_identity" ]]
[[ template "keep_off_volume_nodes" ]]
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
    # The share journal (the task's local/, not alloc/data, which Nomad does
    # not mount into the task again after a node reboots): sticky and
    # migrated, so a replacement allocation keeps the shares the database
    # never got.
    ephemeral_disk {
      sticky  = true
      migrate = true
      size    = 100
    }
    network {
      port "stratum" {
        static = [[ $s.port ]]
      }
      port "metrics" {}
    }
    service {
      name     = [[ printf "%s-stratum" $c.name | quote ]]
      tags     = [[ list $c.network "stratum" | toJson ]]
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
      # Subscribes as a miner would and waits for work, so it fails while no
      # wallet is in service; no check_restart: a restart would not bring a
      # wallet back and would drop every miner.
      check {
        name      = "stratum answers"
        type      = "http"
        port      = "metrics"
        path      = "/v1/check"
        interval  = "10s"
        timeout   = "5s"
        on_update = "ignore_warnings"
      }
      meta {
        coin    = [[ $c.name | quote ]]
        network = [[ $c.network | quote ]]
      }
    }
    service {
      name     = [[ printf "%s-stratum-metrics" $c.name | quote ]]
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
        coin         = [[ $c.name | quote ]]
        metrics_path = "/metrics"
      }
    }

    task "stratum" {
      driver       = "exec"
      user         = "nobody"
      kill_timeout = "30s"
      kill_signal  = "SIGTERM"
      config {
        command = [[ var "poolctl" .ctx | quote ]]
        args = [[ concat (list "stratum"
          (printf "--pool=%s" (var "pool_name" .ctx))
          (printf "--coin=%s" $c.name)
          (printf "--network=%s" $c.network)
          "--listen=${NOMAD_ADDR_stratum}"
          "--metrics-listen=${NOMAD_ADDR_metrics}"
          (printf "--wallet-service=%s-wallet" $c.name)
          "--credentials=${NOMAD_SECRETS_DIR}/wallet.credentials"
          (printf "--database-service=%s-database" (var "pool_name" .ctx))
          "--database-credentials=${NOMAD_SECRETS_DIR}/database.credentials"
          (printf "--stratum-service=%s-stratum" $c.name)
          (printf "--fee-percent=%v" $s.fee_percent)
          (printf "--difficulty=%v" $s.difficulty.start)
          (printf "--min-difficulty=%v" $s.difficulty.min)
          (printf "--max-difficulty=%v" $s.difficulty.max)
          (printf "--target-share-seconds=%v" $s.difficulty.target_share_seconds)
          "--share-journal=${NOMAD_TASK_DIR}/share-journal")
          (ternary (list (printf "--floating-address=%s" (var "floating_address" .ctx))) list (ne (var "floating_address" .ctx) "")) | toJson ]]
      }
      template {
        destination = "secrets/wallet.credentials"
        change_mode = "noop"
        perms       = "0400"
        uid         = 65534
        gid         = 65534
        data        = <<EOT
{{ with nomadVar "nomad/jobs/[[ $c.name ]]-stratum" }}{{ .rpc_user }}:{{ .rpc_password }}{{ end }}
EOT
      }
      template {
        destination = "secrets/database.credentials"
        change_mode = "noop"
        perms       = "0400"
        uid         = 65534
        gid         = 65534
        data        = <<EOT
{{ with nomadVar "nomad/jobs/[[ $c.name ]]-stratum" }}{{ .db_user }}:{{ .db_password }}{{ end }}
EOT
      }
[[ template "poolctl_task_tail" (dict "cpu" $s.cpu_mhz "memory" $s.memory_mb) ]]
    }
  }
}
[[- end -]]

[[- define "periodic" -]]
# [[ .id ]]: [[ .title ]].
job [[ .id | quote ]] {
[[ template "job_head" (dict "ctx" .ctx "coin" .coin "kind" .kind "type" "batch" "priority" 50) ]]
  periodic {
    crons            = [[ list .cron | toJson ]]
    prohibit_overlap = true
    time_zone        = "UTC"
  }

  group [[ .kind | quote ]] {
    count = 1
[[ template "consul_identity" ]]
    restart {
      interval = "10m"
      attempts = [[ .retries ]]
      delay    = "15s"
      mode     = "fail"
    }
    reschedule {
      attempts  = 0
      unlimited = false
    }
    ephemeral_disk {
      size = 100
    }
    [[- if .volume ]]
    volume [[ .volume | quote ]] {
      type   = "host"
      source = [[ .volume | quote ]]
    }
    [[- else ]]
[[ template "keep_off_volume_nodes" ]]
    [[- end ]]

    task [[ .kind | quote ]] {
      driver = "exec"
      user   = [[ .user | default "nobody" | quote ]]
      config {
        command = [[ var "poolctl" .ctx | quote ]]
        args    = [[ concat (list .kind (printf "--pool=%s" (var "pool_name" .ctx))) .args | toJson ]]
      }
      [[- if .volume ]]
      volume_mount {
        volume      = [[ .volume | quote ]]
        destination = "/backup"
      }
      [[- end ]]
      [[- range .logins ]]
      template {
        destination = "secrets/[[ .file ]]"
        change_mode = "noop"
        [[- if eq ($.user | default "nobody") "nobody" ]]
        perms       = "0400"
        uid         = 65534
        gid         = 65534
        [[- else ]]
        perms       = "0444"
        [[- end ]]
        data        = <<EOT
{{ with nomadVar "nomad/jobs/[[ $.id ]]" }}{{ .[[ .user ]] }}:{{ .[[ .password ]] }}{{ end }}
EOT
      }
      [[- end ]]
[[ template "poolctl_task_tail" (dict "cpu" .cpu "memory" .memory) ]]
    }
  }
}
[[- end -]]

[[- define "payout" -]]
[[- $c := .coin -]][[- $p := $c.payout -]]
[[- $args := concat (list (printf "--coin=%s" $c.name) (printf "--network=%s" $c.network) (printf "--wallet-service=%s-wallet" $c.name) "--credentials=${NOMAD_SECRETS_DIR}/wallet.credentials" (printf "--database-service=%s-database" (var "pool_name" .ctx)) "--database-credentials=${NOMAD_SECRETS_DIR}/database.credentials" (printf "--confirmations=%v" $c.payout.confirmations) (printf "--scheme=%s" $c.payout.scheme) (printf "--window=%v" $c.payout.window) (printf "--fee-percent=%v" $c.stratum.fee_percent)) (list (printf "--minimum=%v" $p.minimum) (printf "--reserve=%v" $p.reserve) (printf "--max-outputs=%v" $p.max_outputs)) -]]
[[ template "periodic" (dict "ctx" .ctx "coin" $c "kind" "payout" "id" (printf "%s-payout" $c.name) "title" "payouts: pays miners what they are owed, exactly once" "cron" $p.cron "retries" 0 "cpu" $p.cpu_mhz "memory" $p.memory_mb "args" $args "logins" (list (dict "file" "wallet.credentials" "user" "rpc_user" "password" "rpc_password") (dict "file" "database.credentials" "user" "db_user" "password" "db_password"))) ]]
[[- end -]]

[[- define "blocks" -]]
[[- $c := .coin -]][[- $h := var "housekeeping" .ctx -]]
[[- $args := (list (printf "--coin=%s" $c.name) (printf "--network=%s" $c.network) (printf "--wallet-service=%s-wallet" $c.name) "--credentials=${NOMAD_SECRETS_DIR}/wallet.credentials" (printf "--database-service=%s-database" (var "pool_name" .ctx)) "--database-credentials=${NOMAD_SECRETS_DIR}/database.credentials" (printf "--confirmations=%v" $c.payout.confirmations) (printf "--scheme=%s" $c.payout.scheme) (printf "--window=%v" $c.payout.window) (printf "--fee-percent=%v" $c.stratum.fee_percent)) -]]
[[ template "periodic" (dict "ctx" .ctx "coin" $c "kind" "blocks" "id" (printf "%s-blocks" $c.name) "title" "block tracking: follows found blocks to maturity or orphaning" "cron" $h.blocks_cron "retries" 1 "cpu" $h.cpu_mhz "memory" $h.memory_mb "args" $args "logins" (list (dict "file" "wallet.credentials" "user" "rpc_user" "password" "rpc_password") (dict "file" "database.credentials" "user" "db_user" "password" "db_password"))) ]]
[[- end -]]

[[- define "coin" -]]
[[- $coins := var "coins" .ctx -]]
[[- if lt .index (len $coins) -]]
[[- $args := dict "ctx" .ctx "coin" (index $coins .index) -]]
[[- if eq .kind "wallet" ]][[ template "wallet" $args ]]
[[- else if eq .kind "stratum" ]][[ template "stratum" $args ]]
[[- else if eq .kind "payout" ]][[ template "payout" $args ]]
[[- else if eq .kind "blocks" ]][[ template "blocks" $args ]]
[[- end -]]
[[- end -]]
[[- end -]]
