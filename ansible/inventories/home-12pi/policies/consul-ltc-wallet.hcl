# ltc-wallet: the wallet's probe and its addnode template: the coin's wallets.
# the probe compares this wallet with its siblings
service "ltc-wallet" {
  policy = "read"
}
# the daemon's addnode lines name its siblings
service "ltc-wallet-p2p" {
  policy = "read"
}
# service instances are filtered by read access to their node
node_prefix "" {
  policy = "read"
}
