# Cron expressions that never fire and paths a shell would read as code.
pool "odd" {
  poolctl = "/usr/local/bin/poolctl; rm -rf /"
}

cluster {
  servers                = 1
  nodes                  = 1
  node_cpu_mhz           = 8000
  node_memory_mb         = 8192
  tolerate_node_failures = 0
  host_volume "ltc-chain" { nodes = 1 }
  host_volume "pool-data" { nodes = 1 }
}

coin "ltc" {
  network = "regtest"
  stratum { port = 3333 }
  payout {
    cron = "0 0 31 2 *"
  }
}

database {
  command = "/usr/lib/postgresql/15/bin/post gres"
}

housekeeping {
  blocks_cron = "5-1 * * * *"
  stats_cron  = "0 0 * * * * 2099"
}
