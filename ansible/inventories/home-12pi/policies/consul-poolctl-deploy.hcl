# poolctl-deploy: poolctl deploy, plan and status: the pool's records, its check, its services.
# deploy records what it deployed
key "poolctl/scryptpool/config" {
  policy = "write"
}
# deploy records what it deployed
key "poolctl/scryptpool/services" {
  policy = "write"
}
# deploy records what it deployed
key "poolctl/scryptpool/deployment" {
  policy = "write"
}
# status reads the runs, locks, pool addresses and the database's cluster state (Patroni's keys)
key_prefix "poolctl/scryptpool/" {
  policy = "read"
}
# deploy publishes the pool's check on its external node
node "scryptpool-pool" {
  policy = "write"
}
# deploy publishes the pool's service
service "scryptpool" {
  policy = "write"
}
# service instances are filtered by read access to their node
node_prefix "" {
  policy = "read"
}
# deploy and status read the pool's services
service "scryptpool-database" {
  policy = "read"
}
# deploy and status read the pool's services
service "ltc-wallet" {
  policy = "read"
}
# deploy and status read the pool's services
service "ltc-wallet-p2p" {
  policy = "read"
}
# deploy and status read the pool's services
service "ltc-stratum" {
  policy = "read"
}
# deploy and status read the pool's services
service "ltc-stratum-metrics" {
  policy = "read"
}
