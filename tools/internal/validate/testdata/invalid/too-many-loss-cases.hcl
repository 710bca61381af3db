# Asking to survive nine lost nodes of sixteen kinds: too many cases to check.
pool "many" {}
cluster {
  servers = 3
  nodes = 40
  node_cpu_mhz = 4800
  node_memory_mb = 1024
  reserved_memory_mb = 200
  lan = ["10.0.0.0/8"]
  tolerate_node_failures = 9
  host_volume "ltc-chain" { nodes = 10 }
  host_volume "pool-data" { nodes = 1 }
  host_volume "v1" { nodes = 1 }
  host_volume "v2" { nodes = 1 }
  host_volume "v3" { nodes = 1 }
  host_volume "v4" { nodes = 1 }
  host_volume "v5" { nodes = 1 }
  host_volume "v6" { nodes = 1 }
  host_volume "v7" { nodes = 1 }
  host_volume "v8" { nodes = 1 }
  host_volume "v9" { nodes = 1 }
  host_volume "v10" { nodes = 1 }
  host_volume "v11" { nodes = 1 }
  host_volume "v12" { nodes = 1 }
  host_volume "v13" { nodes = 1 }
  host_volume "v14" { nodes = 1 }
}
coin "ltc" {
  network = "mainnet"
  stratum { port = 3333 }
}
