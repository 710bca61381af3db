pool "Bad_Name" {
  datacenter = "Home Lab"
  poolctl    = "bin/poolctl"
}

cluster {
  servers        = 2
  nodes          = 4
  node_cpu_mhz   = 4800
  node_memory_mb = 1024
  lan            = ["192.168.1.0/33"]
  # Not an address at all.
  floating_address = "192.168.1.300"
  host_volume "ltc-chain" { nodes = 9 }
}

coin "ltc" {
  chain   = "bitcoin"
  network = "mainnet"
  wallet {
    instances      = 0
    volume         = "chain"
    max_tip_age    = "soon"
    dbcache_mb     = 900
    prune_mb       = 100
    max_lag_blocks = -1
  }
  stratum {
    port        = 4646
    fee_percent = 120
    difficulty {
      start = 0.5
      min   = 1
      max   = 0
    }
  }
  payout {
    cron          = "every thirty minutes"
    scheme        = "pps"
    minimum       = 0.123456789
    confirmations = 6
  }
}

housekeeping {
  backup_cron      = "61 * * * *"
  backup_keep_days = 0
}
