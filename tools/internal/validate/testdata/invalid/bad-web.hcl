# The web servers' port is a port of their own on every node (not an
# agent's, not a stratum port), and explorer links name a coin of the pool
# and say where the value goes; trusted proxies are addresses or networks,
# never every address.
pool "scryptpool" {
  datacenter = "home"
}

cluster {
  servers        = 3
  nodes          = 3
  node_cpu_mhz   = 4800
  node_memory_mb = 8192
  lan            = ["192.168.1.0/24"]
  host_volume "ltc-chain" { nodes = 2 }
  host_volume "pool-data" { nodes = 2 }
}

coin "ltc" {
  network = "mainnet"
  wallet {
    volume = "ltc-chain"
  }
  stratum {
    port = 3333
  }
}

web {
  port      = 3333
  instances = 0
  memory_mb = 4
  trusted_proxies = ["192.168.1.1", "10.0.0.0/8", "0.0.0.0/0", "proxy.lan"]
  explorer "ltc" {
    block_link   = "https://explorer.example.org/block/"
    tx_link      = "javascript:alert({0})"
    address_link = "https://explorer.example.org/address/{0}"
  }
  explorer "doge" {
    tx_link = "https://explorer.example.org/tx/{0}"
  }
}
