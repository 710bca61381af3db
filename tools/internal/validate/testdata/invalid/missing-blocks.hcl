# No cluster block and no coin.
pool "nothing" {
  datacenter = "home"
}
