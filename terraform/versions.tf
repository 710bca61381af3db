terraform {
  required_version = ">= 1.5"
  required_providers {
    nomad = {
      source  = "hashicorp/nomad"
      version = "~> 2.4"
    }
    consul = {
      source  = "hashicorp/consul"
      version = "~> 2.21"
    }
  }
}

# Both providers read their addresses, CA files and tokens from the
# environment (NOMAD_ADDR, NOMAD_CACERT, NOMAD_TOKEN, CONSUL_HTTP_ADDR,
# CONSUL_CACERT, CONSUL_HTTP_TOKEN), as poolctl does: use the management
# tokens ansible/acl.yml keeps on the first server.
provider "nomad" {}

provider "consul" {}
