# poolctl deploy: register, plan, watch and revert the pool's jobs, write
# their secrets under nomad/jobs/, read nodes; nothing else (no ACLs, no
# agent or node writes, no operator).
namespace "default" {
  capabilities = ["list-jobs", "read-job", "submit-job", "dispatch-job", "read-logs", "alloc-lifecycle"]
  variables {
    path "nomad/jobs/*" {
      capabilities = ["write", "read", "list"]
    }
  }
}
node {
  policy = "read"
}
agent {
  policy = "read"
}
