# ltc-blocks: a coin's blocks runs: wallets, database, pool address.
# one run at a time
key "poolctl/scryptpool/locks/ltc/blocks" {
  policy = "write"
}
# status shows the last run
key "poolctl/scryptpool/runs/ltc/blocks" {
  policy = "write"
}
# the lock's session is on whichever node the run lands
session_prefix "" {
  policy = "write"
}
# rewards are paid to the pool address
key "poolctl/scryptpool/ltc/pool-address" {
  policy = "read"
}
# the wallet that holds the pool's key
service "ltc-wallet" {
  policy = "read"
}
# the ledger
service "scryptpool-database" {
  policy = "read"
}
# service instances are filtered by read access to their node
node_prefix "" {
  policy = "read"
}
