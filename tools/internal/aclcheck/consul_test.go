package aclcheck_test

import (
	"context"
	"testing"

	consulapi "github.com/hashicorp/consul/api"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/aclcheck"
	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
	"github.com/scryptpool/poolmicrocloud/tools/internal/testenv"
)

func consulConfig(addr, token string) *consulapi.Config {
	cfg := consulapi.DefaultConfig()
	cfg.Address, cfg.Token = addr, token
	return cfg
}

// Consul itself answers what a token may do: the deploy policy covers
// what deploy does, a policy missing one rule is reported with exactly
// that rule, an unknown token is one clear error, and ACLs off means
// nothing is missing.
func TestConsulMissing(t *testing.T) {
	ctx := context.Background()
	pool := contract.Pool{Name: "testpool", Coins: []string{"ltc"}, Volumes: []string{"ltc-chain", "pool-data"}}
	_, needs := pool.OperatorNeeds(contract.CommandDeploy)
	deploy, ok := pool.Grantee(contract.DeployPolicy)
	require.True(t, ok)

	c := testenv.StartConsulWithACLs(t)
	mgmt := c.Client(t)
	token := func(rules string) string {
		p, _, err := mgmt.ACL().PolicyCreate(&consulapi.ACLPolicy{Name: "p" + randomSuffix(t), Rules: rules}, nil)
		require.NoError(t, err)
		tok, _, err := mgmt.ACL().TokenCreate(&consulapi.ACLToken{Policies: []*consulapi.ACLTokenPolicyLink{{ID: p.ID}}}, nil)
		require.NoError(t, err)
		return tok.SecretID
	}

	missing, err := aclcheck.ConsulMissing(ctx, consulConfig(c.Addr, token(string(contract.ConsulPolicy(deploy)))), needs)
	require.NoError(t, err)
	require.Empty(t, missing, "the deploy policy covers what deploy does")

	// The policy as it was before the pool's check moved to the deploy
	// token: no node write on the pool's external node.
	without := deploy
	without.Consul = nil
	for _, a := range deploy.Consul {
		if a.Rule != contract.RuleNode {
			without.Consul = append(without.Consul, a)
		}
	}
	missing, err = aclcheck.ConsulMissing(ctx, consulConfig(c.Addr, token(string(contract.ConsulPolicy(without)))), needs)
	require.NoError(t, err)
	require.Len(t, missing, 1)
	require.Equal(t, `node "testpool-pool" write`, missing[0].String())

	missing, err = aclcheck.ConsulMissing(ctx, consulConfig(c.Addr, ""), needs)
	require.NoError(t, err)
	require.Len(t, missing, len(needs), "anonymous may do nothing")

	_, err = aclcheck.ConsulMissing(ctx, consulConfig(c.Addr, "00000000-0000-0000-0000-000000000001"), needs)
	require.ErrorContains(t, err, "the Consul token (CONSUL_HTTP_TOKEN) is not one Consul knows")

	open := testenv.StartConsul(t)
	missing, err = aclcheck.ConsulMissing(ctx, consulConfig(open.Addr, ""), needs)
	require.NoError(t, err)
	require.Empty(t, missing, "ACLs off: everything is allowed")
}

var suffixes int

func randomSuffix(t *testing.T) string {
	t.Helper()
	suffixes++
	return string(rune('a' + suffixes))
}
