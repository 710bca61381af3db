# ltc-wallet: wallets: the coin daemons that build work and pay miners.
# Rendered by `poolctl render` from pool "duo": edit the pool definition, not this file.
job "ltc-wallet" {
  region = "global"
  type   = "service"
  # Wallets outrank everything else: without one the pool cannot build work or pay.
  priority    = 80
  datacenters = ["home"]
  # One wallet at a time, and only after the new one is in sync: the other
  # instance keeps serving work to the stratum servers during an upgrade.
  update {
    stagger           = "30s"
    max_parallel      = 1
    health_check      = "checks"
    min_healthy_time  = "10s"
    healthy_deadline  = "15m"
    progress_deadline = "25m"
    auto_revert       = true
  }
  meta {
    pool      = "duo"
    pool_coin = "ltc"
    pool_kind = "wallet"
  }
  group "wallet" {
    count = 2
    # Deregister from Consul before stopping, so stratum servers switch to
    # the other wallet before this one goes away.
    shutdown_delay = "2s"
    # Instances on different nodes where there are several, so one power cut
    # takes at most one wallet.
    spread {
      attribute = "${node.unique.id}"
      weight    = 100
    }
    volume "ltc-chain" {
      type   = "host"
      source = "ltc-chain"
    }
    # A crashed wallet restarts in place quickly: its chain data is on this
    # node. Five failures in ten minutes point at the node (disk, memory), so
    # the allocation fails and is rescheduled elsewhere.
    restart {
      interval = "10m"
      attempts = 5
      delay    = "2s"
      mode     = "fail"
    }
    # Never give up on a wallet, but back off so that a broken binary or
    # datadir does not thrash the cluster.
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
      port "rpc" {
      }
      port "p2p" {
      }
      port "probe" {
      }
    }
    service {
      name     = "ltc-wallet"
      tags     = ["mainnet", "rpc"]
      port     = "rpc"
      provider = "consul"
      # The probe answers from its last poll, at once even when the wallet
      # hangs: a hung wallet keeps its port open but stops answering RPC, which
      # a TCP check would never see. check_restart restarts it after two
      # failures in a row; the grace covers start-up (block verification).
      check {
        name     = "rpc answers"
        type     = "http"
        path     = "/v1/live"
        port     = "probe"
        interval = "1s"
        timeout  = "1s"
        check_restart {
          limit           = 2
          grace           = "15m"
          ignore_warnings = true
        }
      }
      # Lagging, in initial block download, stuck on an old tip: out of
      # service (critical) while it catches up, and not restarted, which would
      # only start the catching up over. A few blocks behind is a warning.
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
        coin     = "ltc"
        instance = "${NOMAD_ALLOC_INDEX}"
        network  = "mainnet"
        probe    = "${NOMAD_ADDR_probe}"
      }
    }
    service {
      name     = "ltc-wallet-p2p"
      tags     = ["mainnet", "p2p"]
      port     = "p2p"
      provider = "consul"
      check {
        name     = "p2p port open"
        type     = "tcp"
        interval = "10s"
        timeout  = "2s"
      }
      meta {
        coin     = "ltc"
        instance = "${NOMAD_ALLOC_INDEX}"
        network  = "mainnet"
      }
    }
    # The tasks reach Consul with this job's own identity (its ACL policy is
    # named like the job; `poolctl policies` writes it).
    consul {
    }
    # Each instance keeps its chain in its own directory of the host volume,
    # never in the allocation directory, so a restart does not resync.
    task "datadir" {
      driver = "exec"
      user   = "nobody"
      lifecycle {
        hook = "prestart"
      }
      config {
        command = "/bin/mkdir"
        args = [
          "-p",
          "/chain/${NOMAD_ALLOC_INDEX}",
          "/chain/${NOMAD_ALLOC_INDEX}/backups",
        ]
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
        volume      = "ltc-chain"
        destination = "/chain"
      }
    }
    # poolctl runs the daemon as its child: when a kill mid-write left the
    # block database corrupt, it restarts the daemon with -reindex-chainstate
    # (or -reindex for the block index) instead of failing until a person
    # moves the chain aside; the other instance serves meanwhile.
    task "daemon" {
      driver = "exec"
      user   = "nobody"
      # The daemon flushes its chain state on SIGTERM; an unclean stop costs a
      # replay of recent blocks at the next start. A hung daemon ignores
      # SIGTERM, so this also bounds how long a hang lasts.
      kill_timeout = "45s"
      kill_signal  = "SIGTERM"
      config {
        command = "/usr/local/bin/poolctl"
        args = [
          "wallet",
          "daemon",
          "--name=ltc/${NOMAD_ALLOC_INDEX}",
          "--",
          "/usr/lib/litecoin/litecoind",
          "-datadir=/chain/${NOMAD_ALLOC_INDEX}",
          "-conf=${NOMAD_SECRETS_DIR}/litecoin.conf",
          "-server=1",
          "-printtoconsole=1",
          "-nodebuglogfile",
          "-bind=${NOMAD_IP_p2p}:${NOMAD_PORT_p2p}",
          "-rpcbind=${NOMAD_IP_rpc}",
          "-rpcport=${NOMAD_PORT_rpc}",
          "-rpcallowip=127.0.0.1",
          "-rpcallowip=${NOMAD_IP_rpc}",
          "-rpcallowip=10.0.0.0/24",
          "-rpcallowip=10.0.1.0/24",
          "-dbcache=100",
          "-maxconnections=16",
          "-rpcthreads=8",
          "-upnp=0",
          "-listenonion=0",
          "-wallet=pool",
        ]
      }
      resources {
        cpu    = 1000
        memory = 500
      }
      logs {
        max_files     = 3
        max_file_size = 5
      }
      # RPC credentials come from a Nomad variable that poolctl deploy creates:
      # never in this file, pool.hcl, Consul or logs. Rendered only for the
      # task's user (nobody), and not re-rendered into a restart of every
      # instance at once.
      template {
        destination = "secrets/litecoin.conf"
        data        = <<EOT
# Rendered by Nomad: the RPC logins from the Nomad variable nomad/jobs/ltc-wallet
# (hashed: the daemon keeps no password), and the coin's other wallets as
# peers, as Consul knew them when this instance started; the probe keeps
# them connected after that.
{{ with nomadVar "nomad/jobs/ltc-wallet" }}rpcauth={{ .rpcauth }}
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
[main]
{{ range service "ltc-wallet-p2p|any" }}{{ if ne (printf "%s:%d" .Address .Port) (env "NOMAD_ADDR_p2p") }}addnode={{ .Address }}:{{ .Port }}
{{ end }}{{ end }}
EOT
        change_mode = "noop"
        perms       = "0400"
        uid         = 65534
        gid         = 65534
      }
      volume_mount {
        volume      = "ltc-chain"
        destination = "/chain"
      }
    }
    # The health probe beside the daemon: it serves the checks above, keeps
    # the wallets peered through Consul, and loads the pool's wallet. It also
    # serves the wallet copies the backup job has the daemon write, to the
    # backup job's login only, so that they are kept off this node too; it
    # mounts the chain volume read-only for that.
    task "probe" {
      driver       = "exec"
      user         = "nobody"
      kill_timeout = "5s"
      lifecycle {
        hook    = "poststart"
        sidecar = true
      }
      config {
        command = "/usr/local/bin/poolctl"
        args = [
          "wallet",
          "probe",
          "--rpc=${NOMAD_ADDR_rpc}",
          "--p2p=${NOMAD_ADDR_p2p}",
          "--listen=${NOMAD_ADDR_probe}",
          "--credentials=${NOMAD_SECRETS_DIR}/rpc.credentials",
          "--wallet-service=ltc-wallet",
          "--p2p-service=ltc-wallet-p2p",
          "--wallet-name=pool",
          "--max-lag-blocks=2",
          "--max-tip-age=30m",
          "--backups-dir=/chain/${NOMAD_ALLOC_INDEX}/backups",
          "--backup-login-file=${NOMAD_SECRETS_DIR}/backup.login",
          "--hd-seed-file=${NOMAD_SECRETS_DIR}/hd.seed",
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
        destination = "secrets/rpc.credentials"
        data        = "{{ with nomadVar \"nomad/jobs/ltc-wallet\" }}{{ .rpc_user }}:{{ .rpc_password }}{{ end }}\n"
        change_mode = "noop"
        perms       = "0400"
        uid         = 65534
        gid         = 65534
      }
      template {
        destination = "secrets/backup.login"
        data        = "{{ with nomadVar \"nomad/jobs/ltc-wallet\" }}{{ .rpc_user_backup }}:{{ .rpc_password_backup }}{{ end }}\n"
        change_mode = "noop"
        perms       = "0400"
        uid         = 65534
        gid         = 65534
      }
      template {
        destination = "secrets/hd.seed"
        data        = "{{ with nomadVar \"nomad/jobs/ltc-wallet/wallet/probe\" }}{{ .hd_seed }}{{ end }}\n"
        change_mode = "noop"
        perms       = "0400"
        uid         = 65534
        gid         = 65534
      }
      volume_mount {
        volume      = "ltc-chain"
        destination = "/chain"
        read_only   = true
      }
    }
  }
}
