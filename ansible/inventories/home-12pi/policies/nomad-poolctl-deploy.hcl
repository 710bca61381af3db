# poolctl-deploy: register, plan, watch, revert and force the pool's jobs,
# write their variables, mount their host volumes, read nodes; nothing else
# (no ACLs, no node writes, no agent, no operator).
namespace "default" {
  capabilities = ["list-jobs", "read-job", "submit-job", "dispatch-job", "read-logs", "alloc-lifecycle"]
  variables {
    path "nomad/jobs/ltc-blocks" {
      capabilities = ["write", "read", "list"]
    }
    path "nomad/jobs/ltc-payout" {
      capabilities = ["write", "read", "list"]
    }
    path "nomad/jobs/ltc-stratum" {
      capabilities = ["write", "read", "list"]
    }
    path "nomad/jobs/ltc-wallet" {
      capabilities = ["write", "read", "list"]
    }
    path "nomad/jobs/ltc-wallet/wallet/probe" {
      capabilities = ["write", "read", "list"]
    }
    path "nomad/jobs/scryptpool-archive" {
      capabilities = ["write", "read", "list"]
    }
    path "nomad/jobs/scryptpool-backup" {
      capabilities = ["write", "read", "list"]
    }
    path "nomad/jobs/scryptpool-database" {
      capabilities = ["write", "read", "list"]
    }
    path "nomad/jobs/scryptpool-health" {
      capabilities = ["write", "read", "list"]
    }
    path "nomad/jobs/scryptpool-stats" {
      capabilities = ["write", "read", "list"]
    }
    path "nomad/jobs/scryptpool-web" {
      capabilities = ["write", "read", "list"]
    }
  }
}
# Registering a job that mounts ltc-chain read-write needs this.
host_volume "ltc-chain" {
  capabilities = ["mount-readwrite"]
}
# Registering a job that mounts pool-backup read-write needs this.
host_volume "pool-backup" {
  capabilities = ["mount-readwrite"]
}
# Registering a job that mounts pool-data read-write needs this.
host_volume "pool-data" {
  capabilities = ["mount-readwrite"]
}
# deploy and status read the nodes (placement, volumes, readiness).
node {
  policy = "read"
}
