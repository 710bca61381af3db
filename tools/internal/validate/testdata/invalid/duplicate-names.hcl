pool "dups" {}

cluster {
  servers                = 1
  nodes                  = 1
  node_cpu_mhz           = 8000
  node_memory_mb         = 8192
  tolerate_node_failures = 0
  host_volume "ltc-chain" { nodes = 1 }
  host_volume "ltc-chain" { nodes = 1 }
  host_volume "pool-data" { nodes = 1 }
}

coin "ltc" {
  network = "regtest"
  stratum { port = 3333 }
}

coin "ltc" {
  network = "regtest"
  stratum { port = 3334 }
}

coin "doge" {
  network = "regtest"
  wallet { volume = "ltc-chain" }
  stratum { port = 3333 }
}

database {}
database {}
