# A wallet larger than a Pi, and more stratum instances than nodes for a
# static port.
pool "toobig" {}

cluster {
  servers            = 1
  nodes              = 3
  node_cpu_mhz       = 4800
  node_memory_mb     = 1024
  reserved_memory_mb = 200
  lan                = ["192.168.1.0/24"]
  host_volume "ltc-chain" { nodes = 3 }
  host_volume "pool-data" { nodes = 1 }
}

coin "ltc" {
  network = "mainnet"
  wallet {
    memory_mb = 2000
  }
  stratum {
    port      = 3333
    instances = 4
  }
}
