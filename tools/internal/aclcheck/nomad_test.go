package aclcheck

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
)

func ns(capability string) contract.NomadAccess {
	return contract.NomadAccess{Object: contract.NomadNamespace, Name: "default", Capability: capability}
}

func variable(path, capability string) contract.NomadAccess {
	return contract.NomadAccess{Object: contract.NomadVariable, Name: path, Capability: capability}
}

func volume(name, capability string) contract.NomadAccess {
	return contract.NomadAccess{Object: contract.NomadHostVolume, Name: name, Capability: capability}
}

func TestNomadAllows(t *testing.T) {
	deploy := string(contract.NomadPolicy(contract.Pool{Name: "p", Coins: []string{"ltc"}, Volumes: []string{"pool-data", "ltc-chain"}}.NomadDeploy()))
	cases := []struct {
		name    string
		rules   []string
		access  contract.NomadAccess
		allowed bool
	}{
		{"the deploy policy submits jobs", []string{deploy}, ns("submit-job"), true},
		{"the deploy policy writes a job's variable", []string{deploy}, variable("nomad/jobs/ltc-wallet", "write"), true},
		{"the deploy policy writes no other variable", []string{deploy}, variable("nomad/jobs/other", "write"), false},
		{"the deploy policy mounts the pool's volume", []string{deploy}, volume("pool-data", "mount-readwrite"), true},
		{"the deploy policy mounts no other volume", []string{deploy}, volume("scratch", "mount-readwrite"), false},
		{"the deploy policy may not exec into allocations", []string{deploy}, ns("alloc-exec"), false},
		{"the deploy policy reads nodes", []string{deploy}, contract.NomadAccess{Object: contract.NomadNode, Capability: "read"}, true},
		{"the deploy policy writes no node", []string{deploy}, contract.NomadAccess{Object: contract.NomadNode, Capability: "write"}, false},
		{"a policy without host_volume cannot mount", []string{`namespace "default" { policy = "write" }`}, volume("pool-data", "mount-readwrite"), false},
		{"write shorthand submits jobs", []string{`namespace "default" { policy = "write" }`}, ns("submit-job"), true},
		{"read shorthand does not submit jobs", []string{`namespace "default" { policy = "read" }`}, ns("submit-job"), false},
		{"a glob namespace counts", []string{`namespace "*" { capabilities = ["submit-job"] }`}, ns("submit-job"), true},
		{"the exact namespace wins over a glob", []string{`namespace "*" { policy = "write" }
namespace "default" { capabilities = ["read-job"] }`}, ns("submit-job"), false},
		{"another namespace does not count", []string{`namespace "other" { policy = "write" }`}, ns("submit-job"), false},
		{"a variable glob counts", []string{`namespace "default" {
  variables {
    path "nomad/jobs/*" { capabilities = ["write"] }
  }
}`}, variable("nomad/jobs/ltc-wallet", "write"), true},
		{"the closest variable path wins", []string{`namespace "default" {
  variables {
    path "nomad/jobs/*" { capabilities = ["write"] }
    path "nomad/jobs/ltc-*" { capabilities = ["deny"] }
  }
}`}, variable("nomad/jobs/ltc-wallet", "write"), false},
		{"a volume write policy mounts read-write", []string{`host_volume "*" { policy = "write" }`}, volume("pool-data", "mount-readwrite"), true},
		{"a volume read policy does not", []string{`host_volume "*" { policy = "read" }`}, volume("pool-data", "mount-readwrite"), false},
		{"policies add up", []string{`namespace "default" { capabilities = ["read-job"] }`, `namespace "default" { capabilities = ["submit-job"] }`}, ns("submit-job"), true},
		{"a deny in any policy wins", []string{`namespace "default" { policy = "write" }`, `namespace "default" { policy = "deny" }`}, ns("submit-job"), false},
		{"write on the agent reads it", []string{`agent { policy = "write" }`}, contract.NomadAccess{Object: contract.NomadAgent, Capability: "read"}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var policies []*NomadPolicy
			for i, r := range tc.rules {
				p, err := ParseNomadPolicy("p"+string(rune('0'+i)), r)
				require.NoError(t, err)
				policies = append(policies, p)
			}
			require.Equal(t, tc.allowed, NomadAllows(policies, tc.access), tc.access.String())
		})
	}
}

func TestParseNomadPolicyRefusesBrokenRules(t *testing.T) {
	_, err := ParseNomadPolicy("broken", `namespace "default" { policy = `)
	require.ErrorContains(t, err, "nomad policy broken")
}
