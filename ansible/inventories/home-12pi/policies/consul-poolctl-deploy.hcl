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
# database restore records the restore the members carry out
key "poolctl/scryptpool/database-restore" {
  policy = "write"
}
# database restore clears the stopped cluster's state (Patroni's keys) so that a new one is made from the archive
key_prefix "poolctl/scryptpool/database/" {
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
# database restore checks that the archive serves
service "scryptpool-archive" {
  policy = "read"
}
# deploy and status read the web servers
service "scryptpool-web" {
  policy = "read"
}
