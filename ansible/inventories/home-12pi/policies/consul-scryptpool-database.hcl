# scryptpool-database: the database's members (Patroni): the cluster's state and the leader lock.
# Patroni keeps the leader lock, the members and the cluster's configuration there
key_prefix "poolctl/scryptpool/database/" {
  policy = "write"
}
# the leader lock's session is on whichever node the primary runs
session_prefix "" {
  policy = "write"
}
