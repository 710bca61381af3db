# scryptpool-database: the database's members (Patroni): the cluster's state and the leader lock.
# Patroni keeps the leader lock, the members and the cluster's configuration there
key_prefix "poolctl/scryptpool/database/" {
  policy = "write"
}
# the leader lock's session is on whichever node the primary runs
session_prefix "" {
  policy = "write"
}
# a restore the operator asked for: a member sets its old copy aside, the new cluster comes from the archive
key "poolctl/scryptpool/database-restore" {
  policy = "read"
}
# a restore fetches the archive from the archive's node
service "scryptpool-archive" {
  policy = "read"
}
# service instances are filtered by read access to their node
node_prefix "" {
  policy = "read"
}
