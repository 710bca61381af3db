datacenter              = "dc1"
node_name               = "pi-4"
bind_addr               = "198.18.9.4"
advertise_addr          = "198.18.9.4"
client_addr             = "198.18.9.4"
disable_update_check    = true
log_level               = "INFO"
data_dir                = "/state/pi-4/consul"
server                  = false
leave_on_terminate      = true
skip_leave_on_interrupt = false
rejoin_after_leave      = true
retry_join              = ["198.18.9.1", "198.18.9.2", "198.18.9.3"]
retry_max               = 0
retry_interval          = "5s"
ports {
  http     = 8500
  dns      = 8600
  grpc     = 8502
  grpc_tls = -1
  server   = 8300
  serf_lan = 8301
  serf_wan = 8302
}
