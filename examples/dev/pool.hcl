# A pool on one machine: the local dev cluster of `poolctl dev up`, mining
# Litecoin regtest blocks with two wallets that peer with each other.
pool "devpool" {
  datacenter = "dc1"
  # `poolctl dev up` maps its own poolctl binary here inside the tasks' chroot.
  poolctl = "/opt/poolctl/bin/poolctl"
}

cluster {
  servers        = 1
  nodes          = 1
  node_cpu_mhz   = 8000
  node_memory_mb = 4096

  # One machine: nothing to fail over to.
  tolerate_node_failures = 0
  lan                    = ["127.0.0.0/8"]

  host_volume "ltc-chain" {
    nodes = 1
  }
  host_volume "pool-data" {
    nodes = 1
  }
}

coin "ltc" {
  network = "regtest"

  wallet {
    instances  = 2
    cpu_mhz    = 500
    memory_mb  = 256
    dbcache_mb = 16
  }

  stratum {
    port      = 3333
    # A static port: one instance per node.
    instances = 1
    difficulty {
      start = 0.01
      min   = 0.001
      max   = 1024
    }
  }

  payout {
    cron          = "*/5 * * * *"
    minimum       = 0.01
    confirmations = 100
  }
}

database {
  memory_mb = 256
}

housekeeping {
  blocks_cron = "* * * * *"
  backup_cron = "0 * * * *"
}

# The API at http://127.0.0.1:8080/api/pools. A static port: one instance
# per node.
web {
  port      = 8080
  instances = 1
}
