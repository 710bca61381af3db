# ltc-wallet: wallets: the coin daemons that build work and pay miners.
# Rendered by `poolctl render` from pool "devpool": edit the pool definition, not this file.
job "ltc-wallet" {
  region = "global"
  type   = "service"
  # Wallets outrank everything else: without one the pool cannot build work or pay.
  priority    = 80
  datacenters = ["dc1"]
  # One wallet at a time, and only after the new one answers RPC: the other
  # instance keeps serving work to the stratum servers during an upgrade.
  update {
    stagger           = "30s"
    max_parallel      = 1
    health_check      = "checks"
    min_healthy_time  = "30s"
    healthy_deadline  = "1m"
    progress_deadline = "11m"
    auto_revert       = true
  }
  meta {
    pool      = "devpool"
    pool_coin = "ltc"
    pool_kind = "wallet"
  }
  group "wallet" {
    count = 2
    # Deregister from Consul before stopping, so stratum servers switch to
    # the other wallet before this one goes away.
    shutdown_delay = "5s"
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
    # node. Three crashes in ten minutes point at the node (disk, memory), so
    # the allocation fails and is rescheduled elsewhere.
    restart {
      interval = "10m"
      attempts = 3
      delay    = "15s"
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
    }
    service {
      name     = "ltc-wallet"
      tags     = ["regtest", "rpc"]
      port     = "rpc"
      provider = "consul"
      # A hung wallet keeps its port open but stops answering RPC; the script
      # check times out, and check_restart restarts the task after three
      # failures. The grace covers start-up (block verification).
      check {
        name    = "rpc answers"
        type    = "script"
        command = "/usr/bin/litecoin-cli"
        args = [
          "-regtest",
          "-datadir=/chain/${NOMAD_ALLOC_INDEX}",
          "-rpcconnect=${NOMAD_IP_rpc}",
          "-rpcport=${NOMAD_PORT_rpc}",
          "-rpcclienttimeout=4",
          "getblockchaininfo",
        ]
        interval = "10s"
        timeout  = "5s"
        task     = "daemon"
        check_restart {
          limit           = 3
          grace           = "1m"
          ignore_warnings = true
        }
      }
      meta {
        coin     = "ltc"
        instance = "${NOMAD_ALLOC_INDEX}"
        network  = "regtest"
      }
    }
    service {
      name     = "ltc-wallet-p2p"
      tags     = ["regtest", "p2p"]
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
        network  = "regtest"
      }
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
        args    = ["-p", "/chain/${NOMAD_ALLOC_INDEX}"]
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
    task "daemon" {
      driver = "exec"
      user   = "nobody"
      # The daemon flushes its chain state on SIGTERM; killing it mid-flush
      # forces a reindex that takes a Pi days.
      kill_timeout = "2m"
      kill_signal  = "SIGTERM"
      config {
        command = "/usr/lib/litecoin/litecoind"
        args = [
          "-regtest",
          "-datadir=/chain/${NOMAD_ALLOC_INDEX}",
          "-server=1",
          "-printtoconsole=1",
          "-nodebuglogfile",
          "-bind=${NOMAD_IP_p2p}:${NOMAD_PORT_p2p}",
          "-rpcbind=${NOMAD_IP_rpc}",
          "-rpcport=${NOMAD_PORT_rpc}",
          "-rpcallowip=127.0.0.1",
          "-rpcallowip=${NOMAD_IP_rpc}",
          "-rpcallowip=127.0.0.0/8",
          "-dbcache=16",
          "-maxconnections=16",
          "-upnp=0",
          "-listenonion=0",
        ]
      }
      resources {
        cpu    = 500
        memory = 256
      }
      logs {
        max_files     = 3
        max_file_size = 5
      }
      volume_mount {
        volume      = "ltc-chain"
        destination = "/chain"
      }
    }
  }
}
