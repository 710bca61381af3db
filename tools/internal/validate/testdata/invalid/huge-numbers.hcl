pool "huge" {}

cluster {
  servers        = 1
  nodes          = 1000000000000000000000000000000
  node_cpu_mhz   = 99999999999
  node_memory_mb = 1e40
}

coin "ltc" {
  network = "regtest"
  wallet { instances = 4000000000 }
  stratum { port = 70000 }
}
