# scryptpool-archive: the database's archive: streams WAL from the primary, publishes what it holds.
# the members, to find the primary
service "scryptpool-database" {
  policy = "read"
}
# status shows the archive
key "poolctl/scryptpool/archive" {
  policy = "write"
}
# service instances are filtered by read access to their node
node_prefix "" {
  policy = "read"
}
