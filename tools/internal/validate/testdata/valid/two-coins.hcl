# Two coins on six Pis, one of them on testnet with a pruned chain.
pool "duo" {
  datacenter = "home"
}

cluster {
  servers            = 3
  nodes              = 6
  node_cpu_mhz       = 4800
  node_memory_mb     = 1024
  reserved_cpu_mhz   = 400
  reserved_memory_mb = 200
  lan                = ["10.0.0.0/24", "10.0.1.0/24"]
  host_volume "ltc-chain" { nodes = 3 }
  host_volume "tltc-chain" { nodes = 2 }
  host_volume "pool-data" { nodes = 1 }
}

coin "ltc" {
  network = "mainnet"
  wallet {
    memory_mb = 500
  }
  stratum {
    port = 3333
  }
}

coin "tltc" {
  network = "testnet"
  wallet {
    instances = 2
    memory_mb = 300
    dbcache_mb = 50
    prune_mb  = 550
    # The operator's own testnet node and a friend's, kept connected.
    peers = ["192.168.1.40:19335", "tltc.example.org:19335"]
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
