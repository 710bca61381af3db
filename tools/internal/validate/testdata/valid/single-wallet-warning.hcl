pool "lonely" {}

cluster {
  servers                = 1
  nodes                  = 1
  node_cpu_mhz           = 4000
  node_memory_mb         = 2048
  tolerate_node_failures = 0
  host_volume "ltc-chain" { nodes = 1 }
  host_volume "pool-data" { nodes = 1 }
}

coin "ltc" {
  network = "regtest"
  wallet {
    instances = 1
    memory_mb = 300
  }
  stratum {
    port      = 3333
    instances = 1
  }
}
