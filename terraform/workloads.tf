# Nomad tasks log in to Consul with their workload identity (the agents'
# consul { task_identity } block, ansible/roles/nomad): the token gets the
# policy named like the task's job (consul_acl_policy.pool), and a job with
# no policy gets no token. The fixed parts are ansible/roles/acl/files/
# consul-nomad-workloads-*.json (the Terraform test compares them).
resource "consul_acl_auth_method" "nomad_workloads" {
  name           = "nomad-workloads"
  type           = "jwt"
  description    = "Nomad tasks log in with their workload identity"
  token_locality = "local"
  config_json = jsonencode({
    JWKSURL          = "${var.nomad_address}/.well-known/jwks.json"
    JWKSCACert       = trimspace(file(var.ca_file))
    JWTSupportedAlgs = ["RS256"]
    BoundAudiences   = ["consul.io"]
    ClaimMappings = {
      nomad_namespace = "nomad_namespace"
      nomad_job_id    = "nomad_job_id"
      nomad_task      = "nomad_task"
    }
  })
}

resource "consul_acl_binding_rule" "nomad_workloads" {
  auth_method = consul_acl_auth_method.nomad_workloads.name
  description = "a Nomad task gets the policy named like its job, and nothing when there is none"
  selector    = "\"nomad_service\" not in value"
  bind_type   = "policy"
  bind_name   = "$${value.nomad_job_id}"
}
