# ltc-stratum: the stratum server: wallets, database, pool address.
# the first server picks the pool address, the others read it
key "poolctl/scryptpool/ltc/pool-address" {
  policy = "write"
}
# work comes from the healthiest wallet
service "ltc-wallet" {
  policy = "read"
}
# shares are written to the database
service "scryptpool-database" {
  policy = "read"
}
# the servers agree on the pool address
service "ltc-stratum" {
  policy = "read"
}
# service instances are filtered by read access to their node
node_prefix "" {
  policy = "read"
}
