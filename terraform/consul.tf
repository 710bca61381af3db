resource "consul_acl_policy" "nomad_agents" {
  name        = "nomad-agents"
  description = "Nomad agents register their own and the jobs' services"
  rules       = <<-EOT
    # Nomad agents register their own services and the jobs' services.
    agent_prefix "" {
      policy = "read"
    }
    node_prefix "" {
      policy = "read"
    }
    service_prefix "" {
      policy = "write"
    }
  EOT
}

# The pool's policies, one per file in var.policy_dir as `poolctl policies`
# writes them: consul-poolctl-deploy.hcl for the deploy token and
# consul-<job>.hcl for each job whose tasks reach Consul.
resource "consul_acl_policy" "pool" {
  for_each    = fileset(var.policy_dir, "consul-*.hcl")
  name        = trimsuffix(trimprefix(each.value, "consul-"), ".hcl")
  description = "written by poolctl policies"
  rules       = file("${var.policy_dir}/${each.value}")
}

resource "consul_acl_token" "nomad_agents" {
  description = "nomad-agents"
  policies    = [consul_acl_policy.nomad_agents.name]
}

resource "consul_acl_token" "poolctl_deploy" {
  description = "poolctl-deploy"
  policies    = [consul_acl_policy.pool["consul-poolctl-deploy.hcl"].name]
}

# keepalived's health check on every node (ansible/roles/floating_address),
# when the pool has a floating address: poolctl policies writes its policy
# then. Like the agent tokens, its secret must reach the nodes
# (/etc/keepalived/consul.token).
resource "consul_acl_token" "floating_address" {
  count       = fileexists("${var.policy_dir}/consul-floating-address.hcl") ? 1 : 0
  description = "floating-address"
  policies    = [consul_acl_policy.pool["consul-floating-address.hcl"].name]
}

# One agent token per node, allowed to register that node only.
resource "consul_acl_token" "agent" {
  for_each    = toset(var.nodes)
  description = "agent-${each.key}"
  node_identities {
    node_name  = each.key
    datacenter = var.datacenter
  }
}

output "consul_deploy_token_accessor" {
  description = "Accessor of CONSUL_HTTP_TOKEN for poolctl deploy (read the secret with consul acl token read)."
  value       = consul_acl_token.poolctl_deploy.accessor_id
}
