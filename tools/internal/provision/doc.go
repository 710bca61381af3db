// Package provision tests the Ansible playbooks and the Terraform
// configuration in ansible/ and terraform/: lint and syntax checks, the
// Terraform objects against the ACL policies the playbooks create, and a
// real converge of debootstrapped Debian roots whose Consul and Nomad
// configurations then start a secured cluster.
//
// It has no code of its own beyond test helpers: the playbooks are the
// product.
package provision
