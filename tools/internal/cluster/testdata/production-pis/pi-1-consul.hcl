datacenter              = "dc1"
node_name               = "pi-1"
bind_addr               = "198.18.9.1"
advertise_addr          = "198.18.9.1"
client_addr             = "198.18.9.1"
disable_update_check    = true
log_level               = "INFO"
data_dir                = "/state/pi-1/consul"
server                  = true
leave_on_terminate      = false
skip_leave_on_interrupt = true
rejoin_after_leave      = true
bootstrap_expect        = 3
autopilot {
  cleanup_dead_servers   = true
  min_quorum             = 3
  last_contact_threshold = "2s"
}
retry_join     = ["198.18.9.2", "198.18.9.3"]
retry_max      = 0
retry_interval = "5s"
ports {
  http     = 8500
  dns      = 8600
  grpc     = 8502
  grpc_tls = -1
  server   = 8300
  serf_lan = 8301
  serf_wan = 8302
}
