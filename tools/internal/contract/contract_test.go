package contract_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"testing"

	consulapi "github.com/hashicorp/consul/api"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
	"github.com/scryptpool/poolmicrocloud/tools/internal/floating"
	"github.com/scryptpool/poolmicrocloud/tools/internal/payout"
	"github.com/scryptpool/poolmicrocloud/tools/internal/poolcheck"
	"github.com/scryptpool/poolmicrocloud/tools/internal/testenv"
	"github.com/scryptpool/poolmicrocloud/tools/internal/validate"
)

// The policies checked in beside the production inventory are what
// `poolctl policies` writes for the production example: Ansible and
// Terraform install them, so a stale file is a policy that drifted from
// the code.
func TestCheckedInPolicies(t *testing.T) {
	root := testenv.RepoRoot(t)
	r := validate.File(filepath.Join(root, "examples", "home-12pi", "pool.hcl"))
	require.True(t, r.OK())
	want := contract.FromConfig(r.Pool).PolicyFiles()
	dir := filepath.Join(root, "ansible", "inventories", "home-12pi", "policies")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var got, wantNames []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	for name := range want {
		wantNames = append(wantNames, name)
	}
	sort.Strings(wantNames)
	require.Equal(t, wantNames, got, "regenerate: poolctl policies -o ansible/inventories/home-12pi/policies examples/home-12pi/pool.hcl")
	for name, src := range want {
		on, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		assert.Equal(t, string(src), string(on), "%s is stale: poolctl policies -o ansible/inventories/home-12pi/policies examples/home-12pi/pool.hcl", name)
	}
}

// Every grantee's policy, installed in a real Consul with ACLs on and
// default deny, lets the pool's own code do what that process does, and
// refuses what another process does.
func TestPoliciesGrantWhatEachProcessDoes(t *testing.T) {
	c := testenv.StartConsulWithACLs(t)
	mgmt := c.Client(t)
	pool := contract.Pool{Name: "testpool", Coins: []string{"ltc", "doge"}, Volumes: []string{"ltc-chain", "doge-chain", "pool-data"}, FloatingAddress: true}

	clients := map[string]*consulapi.Client{"anonymous": c.ClientWithToken(t, "")}
	for _, g := range pool.Grantees() {
		policy, _, err := mgmt.ACL().PolicyCreate(&consulapi.ACLPolicy{Name: g.Name, Rules: string(contract.ConsulPolicy(g))}, nil)
		require.NoError(t, err, "install %s", g.Name)
		token, _, err := mgmt.ACL().TokenCreate(&consulapi.ACLToken{Policies: []*consulapi.ACLTokenPolicyLink{{ID: policy.ID}}}, nil)
		require.NoError(t, err)
		clients[g.Name] = c.ClientWithToken(t, token.SecretID)
	}
	// One instance of every service, on a node of its own, as Nomad
	// registers them.
	for _, s := range append(pool.Services(), contract.WebService(pool.Name)) {
		_, err := mgmt.Catalog().Register(&consulapi.CatalogRegistration{Node: "pi-01", Address: "127.0.0.1",
			Service: &consulapi.AgentService{ID: s, Service: s}}, nil)
		require.NoError(t, err)
	}
	// The stratum servers (and a wallet) on this agent, with a passing
	// check each, as Nomad registers them: what keepalived's check asks the
	// local agent.
	for _, name := range []string{contract.StratumService("ltc"), contract.StratumService("doge"), contract.WalletService("ltc")} {
		require.NoError(t, mgmt.Agent().ServiceRegister(&consulapi.AgentServiceRegistration{
			Name: name, Port: 3333,
			Check: &consulapi.AgentServiceCheck{TTL: "1h", Status: consulapi.HealthPassing},
		}))
	}
	ctx := context.Background()
	holdsFloating := func(services ...string) func(*consulapi.Client) error {
		return func(cl *consulapi.Client) error { return floating.Check(ctx, cl, services) }
	}

	kvPut := func(key string) func(*consulapi.Client) error {
		return func(cl *consulapi.Client) error {
			_, err := cl.KV().Put(&consulapi.KVPair{Key: key, Value: []byte("{}")}, nil)
			return err
		}
	}
	kvGet := func(key string) func(*consulapi.Client) error {
		return func(cl *consulapi.Client) error {
			_, _, err := cl.KV().Get(key, nil)
			return err
		}
	}
	cas := func(key string) func(*consulapi.Client) error {
		return func(cl *consulapi.Client) error {
			ok, _, err := cl.KV().CAS(&consulapi.KVPair{Key: key, Value: []byte("addr")}, nil)
			if err == nil && !ok {
				return errors.New("CAS lost")
			}
			return err
		}
	}
	// Consul answers a service query it may not see with no instances, not
	// with an error: seeing the one instance is the grant.
	seeService := func(name string) func(*consulapi.Client) error {
		return func(cl *consulapi.Client) error {
			entries, _, err := cl.Health().Service(name, "", false, nil)
			if err == nil && len(entries) == 0 {
				return errors.New("the instances are filtered out")
			}
			return err
		}
	}
	run := func(coin, job string) func(*consulapi.Client) error {
		return func(cl *consulapi.Client) error {
			_, err := payout.Recorded(ctx, payout.RecordedRun{Consul: cl, Pool: pool.Name, Coin: coin, Job: job}, func(context.Context, *payout.Record) error { return nil })
			return err
		}
	}
	publish := func(cl *consulapi.Client) error {
		return poolcheck.Publish(ctx, cl, pool.Name, poolcheck.Verdict{Status: consulapi.HealthPassing})
	}

	cases := []struct {
		who, what string
		do        func(*consulapi.Client) error
		allowed   bool
	}{
		{"poolctl-deploy", "records the pool definition", kvPut(contract.ConfigKey(pool.Name)), true},
		{"poolctl-deploy", "records the deployment", kvPut(contract.DeploymentKey(pool.Name)), true},
		{"poolctl-deploy", "publishes the pool's check", publish, true},
		{"poolctl-deploy", "reads a run record", kvGet(contract.RecordKey(pool.Name, "ltc", contract.KindPayout)), true},
		{"poolctl-deploy", "sees the wallets", seeService(contract.WalletService("doge")), true},
		{"poolctl-deploy", "writes a run record", kvPut(contract.RecordKey(pool.Name, "ltc", contract.KindPayout)), false},
		{"poolctl-deploy", "writes another pool's keys", kvPut(contract.ConfigKey("otherpool")), false},
		{"testpool-health", "publishes the pool's check", publish, true},
		{"testpool-health", "reads the expected services", kvGet(contract.ServicesKey(pool.Name)), true},
		{"testpool-health", "follows the stratum servers", seeService(contract.StratumService("ltc")), true},
		{"testpool-health", "rewrites the expected services", kvPut(contract.ServicesKey(pool.Name)), false},
		{"ltc-stratum", "keeps the pool address", cas(contract.PoolAddressKey(pool.Name, "ltc")), true},
		{"ltc-stratum", "sees the wallets", seeService(contract.WalletService("ltc")), true},
		{"ltc-stratum", "sees the database", seeService(contract.DatabaseService(pool.Name)), true},
		{"ltc-stratum", "rewrites doge's pool address", kvPut(contract.PoolAddressKey(pool.Name, "doge")), false},
		{"ltc-stratum", "sees doge's wallets", seeService(contract.WalletService("doge")), false},
		{"ltc-payout", "runs under its lock and records the run", run("ltc", contract.KindPayout), true},
		{"ltc-payout", "reads the pool address", kvGet(contract.PoolAddressKey(pool.Name, "ltc")), true},
		{"ltc-payout", "sees the wallets", seeService(contract.WalletService("ltc")), true},
		{"ltc-payout", "takes the blocks job's lock", run("ltc", contract.KindBlocks), false},
		{"ltc-payout", "takes doge's payout lock", run("doge", contract.KindPayout), false},
		{"ltc-payout", "rewrites the pool address", kvPut(contract.PoolAddressKey(pool.Name, "ltc")), false},
		{"ltc-blocks", "runs under its lock and records the run", run("ltc", contract.KindBlocks), true},
		{"doge-payout", "runs under its lock and records the run", run("doge", contract.KindPayout), true},
		{"testpool-stats", "runs under its lock and records the run", run("", contract.KindStats), true},
		{"testpool-stats", "takes the backup's lock", run("", contract.KindBackup), false},
		{"testpool-backup", "runs under its lock and records the run", run("", contract.KindBackup), true},
		{"testpool-backup", "sees every coin's wallets", seeService(contract.WalletService("doge")), true},
		{"testpool-web", "reads the pool definition", kvGet(contract.ConfigKey(pool.Name)), true},
		{"testpool-web", "reads ltc's pool address", kvGet(contract.PoolAddressKey(pool.Name, "ltc")), true},
		{"testpool-web", "reads doge's pool address", kvGet(contract.PoolAddressKey(pool.Name, "doge")), true},
		{"testpool-web", "sees the database", seeService(contract.DatabaseService(pool.Name)), true},
		{"testpool-web", "rewrites the pool definition", kvPut(contract.ConfigKey(pool.Name)), false},
		{"testpool-web", "rewrites the pool address", kvPut(contract.PoolAddressKey(pool.Name, "ltc")), false},
		{"testpool-web", "reads a run record", kvGet(contract.RecordKey(pool.Name, "ltc", contract.KindPayout)), false},
		{"testpool-web", "reads the database's cluster state", kvGet(contract.DatabaseDCSKey(pool.Name, contract.DatabaseKeyLeader)), false},
		{"testpool-web", "sees the wallets", seeService(contract.WalletService("ltc")), false},
		{"testpool-web", "publishes the pool's check", publish, false},
		{"poolctl-deploy", "sees the web servers", seeService(contract.WebService(pool.Name)), true},
		{"ltc-wallet", "sees its sibling wallets", seeService(contract.WalletP2PService("ltc")), true},
		{"ltc-wallet", "reads the pool definition", kvGet(contract.ConfigKey(pool.Name)), false},
		{"ltc-wallet", "sees the database", seeService(contract.DatabaseService(pool.Name)), false},
		{"floating-address", "checks the stratum servers on its node", holdsFloating(contract.StratumService("ltc"), contract.StratumService("doge")), true},
		{"floating-address", "checks the wallets", holdsFloating(contract.WalletService("ltc")), false},
		{"floating-address", "reads the pool definition", kvGet(contract.ConfigKey(pool.Name)), false},
		{"anonymous", "checks the stratum servers", holdsFloating(contract.StratumService("ltc")), false},
		{"anonymous", "reads the pool definition", kvGet(contract.ConfigKey(pool.Name)), false},
		{"anonymous", "sees the wallets", seeService(contract.WalletService("ltc")), false},
		{"anonymous", "publishes the pool's check", publish, false},
	}
	t.Run("a refused floating-address check says so", func(t *testing.T) {
		err := holdsFloating(contract.WalletService("ltc"))(clients[contract.FloatingAddressPolicy])
		require.Error(t, err)
		assert.Contains(t, err.Error(), "403", "a token that may not read the service is refused, not told there is no instance")
	})
	for _, tc := range cases {
		verb := "may not"
		if tc.allowed {
			verb = "may"
		}
		t.Run(tc.who+" "+verb+" "+tc.what, func(t *testing.T) {
			cl, ok := clients[tc.who]
			require.True(t, ok, "no grantee %s", tc.who)
			err := tc.do(cl)
			if tc.allowed {
				require.NoError(t, err)
			} else {
				require.Error(t, err)
			}
		})
	}
}
