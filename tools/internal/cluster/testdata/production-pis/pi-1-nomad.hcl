name                 = "pi-1"
region               = "global"
datacenter           = "dc1"
data_dir             = "/state/pi-1/nomad"
bind_addr            = "198.18.9.1"
disable_update_check = true
log_level            = "INFO"
advertise {
  http = "198.18.9.1"
  rpc  = "198.18.9.1"
  serf = "198.18.9.1"
}
ports {
  http = 4646
  rpc  = 4647
  serf = 4648
}
server {
  enabled            = true
  bootstrap_expect   = 3
  rejoin_after_leave = true
  server_join {
    retry_join     = ["198.18.9.2:4648", "198.18.9.3:4648"]
    retry_max      = 0
    retry_interval = "5s"
  }
  heartbeat_grace        = "2m"
  failover_heartbeat_ttl = "5m"
}
autopilot {
  cleanup_dead_servers   = true
  min_quorum             = 3
  last_contact_threshold = "1s"
}
client {
  enabled           = true
  servers           = ["198.18.9.1:4647", "198.18.9.2:4647", "198.18.9.3:4647"]
  network_interface = "pcl9n0"
  options = {
    "fingerprint.denylist" = "env_aws,env_gce,env_azure,env_digitalocean"
  }
  meta = {
    consul_cacert    = ""
    consul_http_addr = "198.18.9.1:8500"
    nomad_cacert     = ""
    nomad_http_addr  = "http://198.18.9.1:4646"
  }
  chroot_env = {
    (this machine's)
  }
}
plugin "raw_exec" {
  config {
    enabled          = true
    denied_host_uids = "0"
    denied_host_gids = "0"
  }
}
consul {
  address = "198.18.9.1:8500"
}
