# The production pool: twelve Raspberry Pi 3 (4 cores at 1.2 GHz, 1 GiB each),
# three of them Nomad and Consul servers as well as clients, mining Litecoin.
pool "scryptpool" {
  datacenter = "home"
  # Where Ansible installs poolctl on every node.
  poolctl = "/usr/local/bin/poolctl"
}

cluster {
  servers        = 3
  nodes          = 12
  node_cpu_mhz   = 4800
  node_memory_mb = 1024

  # What the OS, Consul and Nomad clients take on every node, and what the
  # Nomad and Consul servers take on top on the three server nodes.
  reserved_cpu_mhz          = 400
  reserved_memory_mb        = 200
  server_reserved_cpu_mhz   = 400
  server_reserved_memory_mb = 150

  # One Pi may lose power and the pool still runs everything.
  tolerate_node_failures = 1
  lan                    = ["192.168.1.0/24"]
  # The one address miners connect to (forward the stratum port on the
  # router here): keepalived keeps it on a node whose stratum server passes
  # its checks. A free address of the LAN, outside the router's DHCP range.
  floating_address = "192.168.1.50"

  # Chain data on the USB disks of four clients.
  host_volume "ltc-chain" {
    nodes = 4
  }
  # PostgreSQL and backups on the SSDs of three clients: two hold a
  # database member each, the third takes a member's place (copying the
  # primary) while one of them is down.
  host_volume "pool-data" {
    nodes = 3
  }
  # The database's archive (WAL and base backups) and the nightly dumps and
  # wallet backups on the disks of two other clients: they outlive the
  # database's nodes.
  host_volume "pool-backup" {
    nodes = 2
  }
}

coin "ltc" {
  network = "mainnet"

  wallet {
    instances       = 2
    cpu_mhz         = 1200
    memory_mb       = 600
    volume          = "ltc-chain"
    dbcache_mb      = 100
    max_connections = 16
    # Keep about 10 GB of recent blocks instead of the whole chain: payouts
    # and block confirmations only read the pool's own wallet transactions
    # and recent blocks. Set 0 if you ever need to rescan or import old keys.
    prune_mb       = 10000
    max_lag_blocks = 2
    max_tip_age    = "30m"
  }

  stratum {
    port        = 3333
    instances   = 2
    cpu_mhz     = 1000
    memory_mb   = 128
    fee_percent = 1
    difficulty {
      start                = 16
      min                  = 1
      max                  = 65536
      target_share_seconds = 15
    }
  }

  payout {
    cron          = "*/30 * * * *"
    scheme        = "pplns"
    minimum       = 0.1
    confirmations = 100
  }
}

database {
  # A primary and a synchronous replica on two nodes: a commit is
  # acknowledged once both have it, and either takes over if the other
  # node dies.
  instances = 2
  cpu_mhz   = 800
  memory_mb = 256
  volume    = "pool-data"
}

housekeeping {
  blocks_cron      = "*/2 * * * *"
  stats_cron       = "*/5 * * * *"
  backup_cron      = "17 3 * * *"
  backup_volume    = "pool-backup"
  backup_keep_days = 14
}

# The pool's MiningCore-compatible API (and pages) on every web server's
# node at this port, for the LAN; two instances on two nodes.
web {
  port      = 8080
  instances = 2
}
