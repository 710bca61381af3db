pool "broken" {
  datacenter = "home"

cluster {
  servers = 1
