name                 = "pi-4"
region               = "global"
datacenter           = "dc1"
data_dir             = "/state/pi-4/nomad"
bind_addr            = "198.18.9.4"
disable_update_check = true
log_level            = "INFO"
leave_on_interrupt   = true
leave_on_terminate   = true
advertise {
  http = "198.18.9.4"
  rpc  = "198.18.9.4"
  serf = "198.18.9.4"
}
ports {
  http = 4646
  rpc  = 4647
  serf = 4648
}
client {
  enabled           = true
  servers           = ["198.18.9.1:4647", "198.18.9.2:4647", "198.18.9.3:4647"]
  network_interface = "pcl9n3"
  options = {
    "fingerprint.denylist" = "env_aws,env_gce,env_azure,env_digitalocean"
  }
  meta = {
    consul_cacert    = ""
    consul_http_addr = "198.18.9.4:8500"
    nomad_cacert     = ""
    nomad_http_addr  = "http://198.18.9.4:4646"
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
  address = "198.18.9.4:8500"
}
