variable "datacenter" {
  description = "The Consul datacenter of the pool (pool \"...\" { datacenter } in pool.hcl)."
  type        = string
  default     = "home"
}

variable "nodes" {
  description = "The node names of the cluster; each gets a Consul agent token for its own node only."
  type        = list(string)
  default = [
    "node-01", "node-02", "node-03", "node-04", "node-05", "node-06",
    "node-07", "node-08", "node-09", "node-10", "node-11", "node-12",
  ]
}

variable "policy_dir" {
  description = "Where `poolctl policies -o DIR pool.hcl` wrote the pool's ACL policies (the production example's are checked in)."
  type        = string
  default     = "../ansible/inventories/home-12pi/policies"
}

variable "nomad_address" {
  description = "A Nomad server's HTTPS API, as the Consul servers reach it: they fetch the keys that sign the tasks' workload identities from it (its certificate must name this host)."
  type        = string
  default     = "https://node-01:4646"
}

variable "ca_file" {
  description = "The cluster CA (PEM) that signs the Nomad servers' certificates, as the playbooks keep it on the controller."
  type        = string
  default     = "../ansible/inventories/home-12pi/secrets/pki/ca.pem"
}
