# poolctl deploy writes the pool's keys under poolctl/ and reads services.
key_prefix "poolctl/" {
  policy = "write"
}
service_prefix "" {
  policy = "read"
}
node_prefix "" {
  policy = "read"
}
