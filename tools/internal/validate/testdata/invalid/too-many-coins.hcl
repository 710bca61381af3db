pool "greedy" {}

cluster {
  servers                = 1
  nodes                  = 1
  node_cpu_mhz           = 64000
  node_memory_mb         = 65536
  tolerate_node_failures = 0
  host_volume "pool-data" { nodes = 1 }
  host_volume "a-chain" { nodes = 1 }
  host_volume "b-chain" { nodes = 1 }
  host_volume "c-chain" { nodes = 1 }
  host_volume "d-chain" { nodes = 1 }
  host_volume "e-chain" { nodes = 1 }
}

coin "a" {
  network = "regtest"
  stratum { port = 3001 }
}
coin "b" {
  network = "regtest"
  stratum { port = 3002 }
}
coin "c" {
  network = "regtest"
  stratum { port = 3003 }
}
coin "d" {
  network = "regtest"
  stratum { port = 3004 }
}
coin "e" {
  network = "regtest"
  stratum { port = 3005 }
}
