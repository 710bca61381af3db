# The jobs run in Nomad's default namespace, which Nomad creates itself;
# their secrets are Nomad Variables under nomad/jobs/<job>, written by
# poolctl deploy and readable by each job's own tasks without a policy.

resource "nomad_acl_policy" "poolctl_deploy" {
  name        = "poolctl-deploy"
  description = "poolctl deploy registers, watches and reverts the pool's jobs"
  rules_hcl   = file("${var.policy_dir}/nomad-poolctl-deploy.hcl")
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
