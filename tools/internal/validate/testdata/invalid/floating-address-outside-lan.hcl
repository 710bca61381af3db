# The floating address must be a host address of the nodes' LAN: keepalived
# moves it between nodes of that network.
pool "tiny" {}

cluster {
  servers                = 1
  nodes                  = 3
  node_cpu_mhz           = 5000
  node_memory_mb         = 4096
  tolerate_node_failures = 0
  lan                    = ["192.168.1.0/24"]
  # The LAN's broadcast address, not a host's.
  floating_address = "192.168.1.255"
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
