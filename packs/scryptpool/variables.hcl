# The pool definition, as variables. The defaults are the production
# example (examples/home-12pi/pool.hcl); `poolctl render --pack-vars FILE`
# writes a variables file from any pool.hcl.

variable "pool_name" {
  description = "The pool's name: prefix of the pool-wide jobs and services, and its Consul KV path."
  type        = string
  default     = "scryptpool"
}

variable "datacenter" {
  description = "The Nomad datacenter the jobs run in."
  type        = string
  default     = "home"
}

variable "region" {
  description = "The Nomad region."
  type        = string
  default     = "global"
}

variable "poolctl" {
  description = "Where the poolctl binary is on every node; the pool's own processes are its subcommands."
  type        = string
  default     = "/usr/local/bin/poolctl"
}

variable "lan" {
  description = "Networks the nodes talk over: wallets accept RPC and PostgreSQL accepts logins from these."
  type        = list(string)
  default     = ["192.168.1.0/24"]
}

variable "floating_address" {
  description = "The pool's floating address, which keepalived keeps on a node with a healthy stratum server: every stratum server also listens there and sends miners there when it stops. \"\" for none."
  type        = string
  default     = "192.168.1.50"
}

variable "coins" {
  description = "The coins the pool mines (at most four), each with its wallets, stratum servers and payouts."
  type = list(object({
    name    = string
    chain   = string
    network = string
    wallet = object({
      instances       = number
      cpu_mhz         = number
      memory_mb       = number
      volume          = string
      command         = string
      max_lag_blocks  = number
      max_tip_age     = string
      dbcache_mb      = number
      prune_mb        = number
      max_connections = number
      peers           = list(string)
    })
    stratum = object({
      port        = number
      instances   = number
      cpu_mhz     = number
      memory_mb   = number
      fee_percent = number
      difficulty = object({
        start                = number
        min                  = number
        max                  = number
        target_share_seconds = number
      })
    })
    payout = object({
      cron          = string
      scheme        = string
      minimum       = number
      window        = number
      reserve       = number
      max_outputs   = number
      confirmations = number
      cpu_mhz       = number
      memory_mb     = number
    })
  }))
  default = [
    {
      name    = "ltc"
      chain   = "litecoin"
      network = "mainnet"
      wallet = {
        instances       = 2
        cpu_mhz         = 1200
        memory_mb       = 600
        volume          = "ltc-chain"
        command         = "/usr/lib/litecoin/litecoind"
        max_lag_blocks  = 2
        max_tip_age     = "30m"
        dbcache_mb      = 100
        prune_mb        = 10000
        max_connections = 16
        peers           = []
      }
      stratum = {
        port        = 3333
        instances   = 2
        cpu_mhz     = 1000
        memory_mb   = 128
        fee_percent = 1
        difficulty = {
          start                = 16
          min                  = 1
          max                  = 65536
          target_share_seconds = 15
        }
      }
      payout = {
        cron          = "*/30 * * * *"
        scheme        = "pplns"
        minimum       = 0.1
        window        = 2
        reserve       = 0.01
        max_outputs   = 500
        confirmations = 100
        cpu_mhz       = 200
        memory_mb     = 128
      }
    },
  ]
}

variable "database" {
  description = "PostgreSQL: how many members (Patroni, one per node), their resources, the host volume holding their data, and its binary."
  type = object({
    instances = number
    cpu_mhz   = number
    memory_mb = number
    volume    = string
    command   = string
  })
  default = {
    instances = 2
    cpu_mhz   = 800
    memory_mb = 256
    volume    = "pool-data"
    command   = "/usr/lib/postgresql/15/bin/postgres"
  }
}

variable "housekeeping" {
  description = "The periodic jobs besides payouts: block tracking, statistics, backups."
  type = object({
    blocks_cron      = string
    stats_cron       = string
    backup_cron      = string
    backup_volume    = string
    backup_keep_days = number
    cpu_mhz          = number
    memory_mb        = number
  })
  default = {
    blocks_cron      = "*/2 * * * *"
    stats_cron       = "*/5 * * * *"
    backup_cron      = "17 3 * * *"
    backup_volume    = "pool-backup"
    backup_keep_days = 14
    cpu_mhz          = 200
    memory_mb        = 128
  }
}

variable "web" {
  description = "The web servers: MiningCore's API (and the pages) on a static port."
  type = object({
    port      = number
    instances = number
    cpu_mhz   = number
    memory_mb = number
  })
  default = {
    port      = 8080
    instances = 2
    cpu_mhz   = 100
    memory_mb = 64
  }
}
