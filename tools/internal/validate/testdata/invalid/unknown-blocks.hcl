pool "unknown" {}

cluster {
  servers        = 1
  nodes          = 1
  node_cpu_mhz   = 4000
  node_memory_mb = 4096
  gpus           = 2
}

coin "ltc" {
  network = "regtest"
  stratum { port = 3333 }
  merged_mining {
    with = "doge"
  }
}

monitoring {
  grafana = true
}
