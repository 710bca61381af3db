# The jobs run in Nomad's default namespace, which Nomad creates itself;
# their secrets are Nomad Variables under nomad/jobs/<job>, written by
# poolctl deploy and readable by each job's own tasks without a policy.

resource "nomad_acl_policy" "poolctl_deploy" {
  name        = "poolctl-deploy"
  description = "poolctl deploy registers, watches and reverts the pool's jobs"
  rules_hcl   = file("${var.policy_dir}/nomad-poolctl-deploy.hcl")
}

# The policies bound to one task of the pool's jobs, one per file in
# var.policy_dir as `poolctl policies` writes them:
# nomad-task-<job>.<group>.<task>.hcl, named <job>-<task>. Nomad grants
# each to that task's workload identity only (the health job's catch-up
# task forces periodic jobs whose slot passed with no launch).
resource "nomad_acl_policy" "task" {
  for_each    = fileset(var.policy_dir, "nomad-task-*.hcl")
  name        = "${split(".", trimsuffix(trimprefix(each.value, "nomad-task-"), ".hcl"))[0]}-${split(".", trimsuffix(trimprefix(each.value, "nomad-task-"), ".hcl"))[2]}"
  description = "written by poolctl policies"
  rules_hcl   = file("${var.policy_dir}/${each.value}")
  job_acl {
    namespace = "default"
    job_id    = split(".", trimsuffix(trimprefix(each.value, "nomad-task-"), ".hcl"))[0]
    group     = split(".", trimsuffix(trimprefix(each.value, "nomad-task-"), ".hcl"))[1]
    task      = split(".", trimsuffix(trimprefix(each.value, "nomad-task-"), ".hcl"))[2]
  }
}

resource "nomad_acl_token" "poolctl_deploy" {
  name     = "poolctl-deploy"
  type     = "client"
  policies = [nomad_acl_policy.poolctl_deploy.name]
}

output "nomad_deploy_token" {
  description = "NOMAD_TOKEN for poolctl deploy."
  value       = nomad_acl_token.poolctl_deploy.secret_id
  sensitive   = true
}
