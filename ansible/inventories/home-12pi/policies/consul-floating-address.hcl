# floating-address: keepalived's check on every node: may this node hold the floating address.
# the local agent's checks of this node's stratum server
service "ltc-stratum" {
  policy = "read"
}
