# [[ var "pool_name" . ]]-health: pool health: keeps the pool's Consul check current.
job [[ printf "%s-health" (var "pool_name" .) | quote ]] {
[[ template "job_head" (dict "ctx" . "kind" "health" "type" "service" "priority" 60) ]]
  update {
    max_parallel      = 1
    health_check      = "task_states"
    min_healthy_time  = "10s"
    healthy_deadline  = "2m"
    progress_deadline = "5m"
    auto_revert       = true
  }

  group "health" {
    count = 1
[[ template "consul_identity" ]]
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
[[ template "keep_off_volume_nodes" ]]

    task "watch" {
      driver       = "exec"
      user         = "nobody"
      kill_timeout = "10s"
      config {
        command = [[ var "poolctl" . | quote ]]
        args    = ["health", "watch", [[ printf "--pool=%s" (var "pool_name" .) | quote ]]]
      }
[[ template "poolctl_task_tail" (dict "cpu" 100 "memory" 64) ]]
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
        command = [[ var "poolctl" . | quote ]]
        args    = ["health", "catchup", [[ printf "--pool=%s" (var "pool_name" .) | quote ]]]
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
      identity {
        env = true
      }
      resources {
        cpu    = 50
        memory = 48
      }
      logs {
        max_files     = 3
        max_file_size = 5
      }
    }
  }
}
