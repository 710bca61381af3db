datacenter           = "dc1"
node_name            = "pi-1"
bind_addr            = "198.18.9.1"
advertise_addr       = "198.18.9.1"
client_addr          = "198.18.9.1"
disable_update_check = true
log_level            = "INFO"
data_dir             = "/state/pi-1/consul"
server               = true
bootstrap_expect     = 3
retry_join           = ["198.18.9.2", "198.18.9.3"]
retry_max            = 0
retry_interval       = "30s"
ports {
  http     = 8500
  dns      = 8600
  grpc     = 8502
  grpc_tls = -1
  server   = 8300
  serf_lan = 8301
  serf_wan = 8302
}
