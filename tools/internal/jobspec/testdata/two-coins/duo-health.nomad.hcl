# duo-health: pool health: keeps the pool's Consul check current.
# Rendered by `poolctl render` from pool "duo": edit the pool definition, not this file.
job "duo-health" {
  region      = "global"
  type        = "service"
  priority    = 60
  datacenters = ["home"]
  # No port and no service of its own: healthy means running. What it
  # watches is the pool's Consul check, registered by poolctl deploy.
  update {
    max_parallel      = 1
    health_check      = "task_states"
    min_healthy_time  = "10s"
    healthy_deadline  = "2m"
    progress_deadline = "5m"
    auto_revert       = true
  }
  meta {
    pool      = "duo"
    pool_kind = "health"
  }
  group "health" {
    count = 1
    # Away from the nodes that hold host volumes: their room is kept for
    # the wallets, the database and its backup, which can run nowhere else.
    affinity {
      attribute = "${meta.pool_host_volumes}"
      value     = "."
      operator  = "regexp"
      weight    = -100
    }
    restart {
      interval = "5m"
      attempts = 5
      delay    = "5s"
      mode     = "fail"
    }
    reschedule {
      delay          = "15s"
      delay_function = "exponential"
      max_delay      = "5m"
      unlimited      = true
    }
    ephemeral_disk {
      size = 50
    }
    # The tasks reach Consul with this job's own identity (its ACL policy is
    # named like the job; `poolctl policies` writes it).
    consul {
    }
    task "watch" {
      driver       = "exec"
      user         = "nobody"
      kill_timeout = "10s"
      config {
        command = "/usr/local/bin/poolctl"
        args    = ["health", "watch", "--pool=duo"]
      }
      constraint {
        attribute = "${meta.consul_http_addr}"
        operator  = "is_set"
      }
      constraint {
        attribute = "${meta.consul_cacert}"
        operator  = "is_set"
      }
      env {
        CONSUL_CACERT    = "${meta.consul_cacert}"
        CONSUL_HTTP_ADDR = "${meta.consul_http_addr}"
      }
      resources {
        cpu    = 100
        memory = 64
      }
      logs {
        max_files     = 3
        max_file_size = 5
      }
    }
    # Runs once each periodic job whose slot passed with no launch, the cases
    # Nomad's own catch-up skips: a slot skipped because a run was under way
    # (prohibit_overlap; after a power cut, or a slow run), and a cut before a
    # job's first launch. It reaches this node's Nomad agent with the task's
    # workload identity, whose policy (bound to this task; `poolctl policies`
    # writes it) lists and reads jobs and dispatches them (dispatch-job), no
    # submit, no variables, no nodes.
    task "catchup" {
      driver       = "exec"
      user         = "nobody"
      kill_timeout = "10s"
      config {
        command = "/usr/local/bin/poolctl"
        args    = ["health", "catchup", "--pool=duo"]
      }
      constraint {
        attribute = "${meta.nomad_http_addr}"
        operator  = "is_set"
      }
      constraint {
        attribute = "${meta.nomad_cacert}"
        operator  = "is_set"
      }
      env {
        NOMAD_ADDR   = "${meta.nomad_http_addr}"
        NOMAD_CACERT = "${meta.nomad_cacert}"
      }
      resources {
        cpu    = 50
        memory = 48
      }
      logs {
        max_files     = 3
        max_file_size = 5
      }
      identity {
        env = true
      }
    }
  }
}
