pool "types" {}

cluster {
  servers        = "three"
  nodes          = 12
  node_cpu_mhz   = true
  node_memory_mb = 1024
  lan            = "192.168.1.0/24"
}

coin "ltc" {
  network = "mainnet"
  stratum { port = "3333x" }
}
