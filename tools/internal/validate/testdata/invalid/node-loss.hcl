# Fits with every node up, but not after losing the two nodes asked for:
# the chain lives on only two nodes.
pool "fragile" {}

cluster {
  servers                = 3
  nodes                  = 5
  node_cpu_mhz           = 4800
  node_memory_mb         = 1024
  tolerate_node_failures = 2
  lan                    = ["192.168.1.0/24"]
  host_volume "ltc-chain" { nodes = 2 }
  host_volume "pool-data" { nodes = 1 }
}

coin "ltc" {
  network = "mainnet"
  stratum { port = 3333 }
}
