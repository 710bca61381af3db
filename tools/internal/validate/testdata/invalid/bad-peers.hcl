# A wallet's peers become addnode lines of the daemon's configuration:
# anything but host:port is refused, before a line could be ended in it.
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
  network = "regtest"
  wallet {
    instances       = 2
    volume          = "ltc-chain"
    max_connections = 3
    peers = [
      "192.168.1.50:9333",
      "node.example.org:19444",
      "[2001:db8::7]:9333",
      "192.168.1.50:9333",
      "192.168.1.51",
      "192.168.1.52:99999",
      "bad_host!:9333",
      "10.0.0.1:9333\nrpcallowip=0.0.0.0/0",
      "{{ env \"HOME\" }}:1",
      "[fe80::1%a\nblocknotify=sh -c id]:9333",
      "[192.168.1.53]:9333",
      "[node.example.org]:9333",
    ]
  }
  stratum {
    port = 3333
  }
}
