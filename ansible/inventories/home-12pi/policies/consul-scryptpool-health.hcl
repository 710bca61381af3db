# scryptpool-health: the health watcher: follows the pool's services, publishes the pool's check.
# the services deploy expects
key "poolctl/scryptpool/services" {
  policy = "read"
}
# the pool's check is on its external node
node "scryptpool-pool" {
  policy = "write"
}
# the pool's service carries its check
service "scryptpool" {
  policy = "write"
}
# service instances are filtered by read access to their node
node_prefix "" {
  policy = "read"
}
# followed with blocking queries
service "scryptpool-database" {
  policy = "read"
}
# followed with blocking queries
service "ltc-wallet" {
  policy = "read"
}
# followed with blocking queries
service "ltc-wallet-p2p" {
  policy = "read"
}
# followed with blocking queries
service "ltc-stratum" {
  policy = "read"
}
# followed with blocking queries
service "ltc-stratum-metrics" {
  policy = "read"
}
