# scryptpool-stats: the pool's stats runs: the database.
# one run at a time
key "poolctl/scryptpool/locks/stats" {
  policy = "write"
}
# status shows the last run
key "poolctl/scryptpool/runs/stats" {
  policy = "write"
}
# the lock's session is on whichever node the run lands
session_prefix "" {
  policy = "write"
}
# the ledger
service "scryptpool-database" {
  policy = "read"
}
# service instances are filtered by read access to their node
node_prefix "" {
  policy = "read"
}
