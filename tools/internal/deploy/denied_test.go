package deploy_test

import (
	"bytes"
	"strings"
	"testing"

	consulapi "github.com/hashicorp/consul/api"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/deploy"
	"github.com/scryptpool/poolmicrocloud/tools/internal/testenv"
)

// A task's Consul client reports each kind of refused request once, in
// one line naming the request and what to do, against a real Consul with
// ACLs on; what the token may do passes silently.
func TestConsulRefusalsReportedOnce(t *testing.T) {
	c := testenv.StartConsulWithACLs(t)
	mgmt := c.Client(t)
	p, _, err := mgmt.ACL().PolicyCreate(&consulapi.ACLPolicy{Name: "job-x", Rules: `key "poolctl/p/mine" { policy = "read" }`}, nil)
	require.NoError(t, err)
	tok, _, err := mgmt.ACL().TokenCreate(&consulapi.ACLToken{Policies: []*consulapi.ACLTokenPolicyLink{{ID: p.ID}}}, nil)
	require.NoError(t, err)
	_, err = mgmt.KV().Put(&consulapi.KVPair{Key: "poolctl/p/mine", Value: []byte("v")}, nil)
	require.NoError(t, err)

	for _, tc := range []struct {
		name  string
		token string
		do    func(kv *consulapi.KV) error
		times int
		want  []string // the lines, in order
	}{
		{"allowed", tok.SecretID, func(kv *consulapi.KV) error { _, _, err := kv.Get("poolctl/p/mine", nil); return err }, 3, nil},
		{"refused read, retried", tok.SecretID, func(kv *consulapi.KV) error { _, _, err := kv.Get("poolctl/p/other", nil); return err }, 3, []string{
			"consul at http://" + c.Addr + ": GET /v1/kv/poolctl/p/other: permission denied (Permission denied: token with AccessorID '" + tok.AccessorID + "' lacks permission 'key:read' on \"poolctl/p/other\"): the token's policy lacks it; a task's policy is named like its job and written by poolctl policies: if it was edited by hand or is older than this poolctl, write it again and run ansible-playbook acl.yml",
		}},
		{"refused write of a readable key", tok.SecretID, func(kv *consulapi.KV) error {
			_, err := kv.Put(&consulapi.KVPair{Key: "poolctl/p/mine", Value: []byte("w")}, nil)
			return err
		}, 2, []string{
			"consul at http://" + c.Addr + ": PUT /v1/kv/poolctl/p/mine: permission denied (Permission denied: token with AccessorID '" + tok.AccessorID + "' lacks permission 'key:write' on \"poolctl/p/mine\"): the token's policy lacks it; a task's policy is named like its job and written by poolctl policies: if it was edited by hand or is older than this poolctl, write it again and run ansible-playbook acl.yml",
		}},
		{"unknown token", "00000000-0000-0000-0000-000000000001", func(kv *consulapi.KV) error { _, _, err := kv.Get("poolctl/p/mine", nil); return err }, 2, []string{
			"consul at http://" + c.Addr + ": GET /v1/kv/poolctl/p/mine: refused, Consul does not know this token (ACL not found): a task's token is made at its start from its job's workload identity; check the auth method nomad-workloads (ansible-playbook acl.yml) and the agents' clocks",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			client, _, err := deploy.NewConsul(deploy.ConnOptions{ConsulAddress: "http://" + c.Addr, ConsulToken: tc.token, ReportDenied: &out})
			require.NoError(t, err)
			for i := 0; i < tc.times; i++ {
				err := tc.do(client.KV())
				if tc.want == nil {
					require.NoError(t, err)
				} else {
					require.ErrorContains(t, err, "403", "the caller still sees Consul's answer")
				}
			}
			var lines []string
			if s := strings.TrimSpace(out.String()); s != "" {
				lines = strings.Split(s, "\n")
			}
			require.Equal(t, tc.want, lines)
		})
	}
}
