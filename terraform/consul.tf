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

resource "consul_acl_policy" "poolctl_deploy" {
  name        = "poolctl-deploy"
  description = "poolctl deploy writes the pool's keys and reads its services"
  rules       = <<-EOT
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
  EOT
}

resource "consul_acl_token" "nomad_agents" {
  description = "nomad-agents"
  policies    = [consul_acl_policy.nomad_agents.name]
}

resource "consul_acl_token" "poolctl_deploy" {
  description = "poolctl-deploy"
  policies    = [consul_acl_policy.poolctl_deploy.name]
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
