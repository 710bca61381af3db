# scryptpool-web: the web servers: the pool's definition, pool addresses, database.
# the coins, ports, fees and payout settings the API shows
key "poolctl/scryptpool/config" {
  policy = "read"
}
# the API shows the pool address
key "poolctl/scryptpool/ltc/pool-address" {
  policy = "read"
}
# the ledger, read-only
service "scryptpool-database" {
  policy = "read"
}
# service instances are filtered by read access to their node
node_prefix "" {
  policy = "read"
}
