# Four coins, as many as the pack renders, on twelve Pis: every coin slot
# of the pack (coin_0 to coin_3) must render the jobs poolctl renders. The
# coins differ in network, pruning, fees, schemes and difficulty so that a
# slot that reads another slot's settings shows.
pool "quad" {
  datacenter = "home"
}

cluster {
  servers            = 3
  nodes              = 12
  node_cpu_mhz       = 4800
  node_memory_mb     = 1024
  reserved_cpu_mhz   = 400
  reserved_memory_mb = 200
  lan                = ["10.0.0.0/24"]
  # Rendering is what this file tests, not surviving a lost node.
  tolerate_node_failures = 0
  host_volume "ltc-chain" { nodes = 3 }
  host_volume "tltc-chain" { nodes = 3 }
  host_volume "rltc-chain" { nodes = 3 }
  host_volume "ltc2-chain" { nodes = 3 }
  host_volume "pool-data" { nodes = 1 }
}

coin "ltc" {
  network = "mainnet"
  wallet {
    memory_mb = 500
    prune_mb  = 10000
  }
  stratum {
    port = 3333
  }
}

coin "tltc" {
  network = "testnet"
  wallet {
    instances  = 2
    memory_mb  = 300
    dbcache_mb = 50
    prune_mb   = 550
  }
  stratum {
    port        = 3334
    fee_percent = 0.5
    memory_mb   = 64
  }
  payout {
    scheme  = "proportional"
    minimum = 0.00000001
    cron    = "0 */6 * * *"
  }
}

coin "rltc" {
  network = "regtest"
  wallet {
    instances      = 2
    memory_mb      = 200
    max_lag_blocks = 4
  }
  stratum {
    port        = 3335
    fee_percent = 2
    memory_mb   = 64
    difficulty {
      start = 2
      min   = 1
      max   = 1024
    }
  }
  payout {
    confirmations = 120
    cron          = "*/5 * * * *"
  }
}

coin "ltc2" {
  network = "mainnet"
  wallet {
    instances       = 2
    memory_mb       = 400
    max_connections = 8
  }
  stratum {
    port      = 3336
    instances = 3
    memory_mb = 96
  }
  payout {
    minimum = 0.5
  }
}
