app {
  url = "https://github.com/scryptpool/poolmicrocloud"
}

pack {
  name        = "scryptpool"
  description = "A scrypt mining pool (Litecoin first) on Nomad and Consul: wallets, stratum servers, periodic payouts and housekeeping, and PostgreSQL. The same jobs `poolctl render` writes."
  version     = "0.1.0"
}
