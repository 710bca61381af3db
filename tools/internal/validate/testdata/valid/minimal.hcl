# The least a pool definition needs; everything else has a default.
pool "tiny" {}

cluster {
  servers                = 1
  nodes                  = 1
  node_cpu_mhz           = 5000
  node_memory_mb         = 4096
  tolerate_node_failures = 0
  host_volume "ltc-chain" { nodes = 1 }
  host_volume "pool-data" { nodes = 1 }
}

coin "ltc" {
  network = "regtest"
  stratum {
    port      = 3333
    instances = 1
  }
}
