package provision

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	nomadapi "github.com/hashicorp/nomad/api"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
)

// The cluster of the test: three servers (one of them with a fake Pi
// firmware command line) and two clients, each holding chain data and a
// member of the database.
func convergedCluster(t *testing.T) *testCluster {
	c := newTestCluster(t)
	tarball := baseRoot(t)
	for _, n := range []*testNode{
		{name: "node-01", server: true, addr: c.nodeAddr(1), iface: c.nodeIface(1), fakePi: true},
		{name: "node-02", server: true, addr: c.nodeAddr(2), iface: c.nodeIface(2)},
		{name: "node-03", server: true, addr: c.nodeAddr(3), iface: c.nodeIface(3)},
		{name: "node-04", addr: c.nodeAddr(4), iface: c.nodeIface(4), volumes: []string{"ltc-chain:nobody", "pool-data:postgres"}},
		{name: "node-05", addr: c.nodeAddr(5), iface: c.nodeIface(5), volumes: []string{"ltc-chain:nobody", "pool-data:postgres"}},
	} {
		c.addNode(t, tarball, n)
	}
	_, first := c.playbook(t, "site.yml")
	for _, n := range c.nodes {
		require.Positive(t, first[n.name].changed, "the first run changed nothing on %s", n.name)
	}
	out, second := c.playbook(t, "site.yml")
	for _, n := range c.nodes {
		require.Zero(t, second[n.name].changed, "the second run of site.yml changed %s:\n%s", n.name, out)
	}
	return c
}

// TestProvisionedCluster converges site.yml into Debian roots (twice: the
// second run changes nothing), starts each node's Consul and Nomad from what
// the playbook wrote there, bootstraps the ACLs with acl.yml, and checks the
// cluster is secured and works: gossip encryption, TLS only, default deny,
// a least-privilege deploy token, a job that runs, tasks that reach Consul
// with their job's policy only (workload identity) and see none of the
// agents' secrets, tasks that read their own job's variables only, the pool
// deployed, mining and paying with the deploy tokens, keepalived set up for
// the floating address on every node (not started) with a health check
// that passes where a stratum server runs, a node added with add-node.yml,
// the firewall loaded and tried, and a leader after one server is stopped.
func TestProvisionedCluster(t *testing.T) {
	c := convergedCluster(t)
	first := c.nodes[0]
	checkWrittenFiles(t, first.root)
	t.Run("keepalived is set up for the floating address on every node", func(t *testing.T) { checkKeepalived(t, c) })
	t.Run("bad input fails early and says what to fix", func(t *testing.T) { checkBadInputs(t, c) })

	agents := map[string]*nodeAgents{}
	for _, n := range c.nodes {
		agents[n.name] = c.startAgents(t, n)
	}
	anonConsul := c.consulClient(t, first, "")
	waitConsulLeader(t, anonConsul, "")
	_, r := c.playbook(t, "acl.yml", "-e", "pool_agents_running=true")
	require.Positive(t, r[first.name].changed, "acl.yml changed nothing on a fresh cluster")
	out, r := c.playbook(t, "acl.yml", "-e", "pool_agents_running=true")
	require.Zero(t, r[first.name].changed, "the second run of acl.yml changed something:\n%s", out)

	consulMgmt := c.consulClient(t, first, rootToken(t, first, "consul-management"))
	nomadMgmt := c.nomadClient(t, first, rootToken(t, first, "nomad-management"))
	deployNomad := c.nomadClient(t, first, rootToken(t, first, "nomad-poolctl-deploy"))
	deployConsul := c.consulClient(t, first, rootToken(t, first, "consul-poolctl-deploy"))
	anonNomad := c.nomadClient(t, first, "")
	waitNomadLeader(t, anonNomad, "")
	waitClientsReady(t, nomadMgmt, c.nodes)

	t.Run("gossip is encrypted with one key on every node", func(t *testing.T) {
		waitMembers(t, consulMgmt, len(c.nodes))
		rings, err := consulMgmt.Operator().KeyringList(nil)
		require.NoError(t, err)
		require.NotEmpty(t, rings)
		key, err := os.ReadFile(filepath.Join(c.secrets, "consul-gossip.key"))
		require.NoError(t, err)
		for _, ring := range rings {
			require.Equal(t, map[string]int{strings.TrimSpace(string(key)): ring.NumNodes}, ring.Keys, "keyring of %s (WAN %v)", ring.Datacenter, ring.WAN)
		}
		members, err := nomadMgmt.Agent().Members()
		require.NoError(t, err)
		require.Len(t, members.Members, 3, "Nomad servers in the gossip pool")
	})

	t.Run("TLS is required", func(t *testing.T) {
		plainHTTPRefused(t, first.addr+":8501")
		plainHTTPRefused(t, first.addr+":4646")
		_, err := net.DialTimeout("tcp", first.addr+":8500", 5*time.Second)
		require.Error(t, err, "Consul's plain HTTP port is open")
		nomadRPCRefusesPlaintext(t, first.addr+":4647")
	})

	t.Run("anonymous requests are refused", func(t *testing.T) {
		_, _, err := anonNomad.Jobs().List(nil)
		requireForbidden(t, err, "anonymous job list")
		_, _, err = anonNomad.ACLTokens().List(nil)
		requireForbidden(t, err, "anonymous ACL token list")
		_, err = anonConsul.Agent().Self()
		requireForbidden(t, err, "anonymous Consul agent self")
		_, _, err = anonConsul.ACL().TokenList(nil)
		requireForbidden(t, err, "anonymous Consul token list")
		_, err = anonConsul.KV().Put(&consulapi.KVPair{Key: "poolctl/x", Value: []byte("x")}, nil)
		requireForbidden(t, err, "anonymous KV write")
	})

	t.Run("the deploy token registers a job and does nothing else", func(t *testing.T) {
		_, _, err := deployNomad.Jobs().Register(sleepJob("provision-sleep"), nil)
		require.NoError(t, err, "register a job with the deploy token")
		t.Cleanup(func() { waitStopped(t, nomadMgmt, "provision-sleep") })
		alloc := waitRunning(t, deployNomad, "provision-sleep")
		t.Logf("provision-sleep runs on %s", alloc.NodeName)

		// The pool's jobs' variables only; removed again (the deploy token
		// may not), as the pool's deploy keeps what it finds there.
		poolVar := contract.VariablePath(contract.JobID(examplePool, "", contract.KindStats))
		_, _, err = deployNomad.Variables().Create(&nomadapi.Variable{Path: poolVar, Items: map[string]string{"k": "v"}}, nil)
		require.NoError(t, err, "write a pool job's variable with the deploy token")
		_, err = nomadMgmt.Variables().Delete(poolVar, nil)
		require.NoError(t, err)
		_, _, err = deployNomad.Variables().Create(&nomadapi.Variable{Path: contract.VariablePath("provision-sleep"), Items: map[string]string{"k": "v"}}, nil)
		requireForbidden(t, err, "deploy token writes the variable of a job not the pool's")
		_, _, err = deployNomad.Variables().Create(&nomadapi.Variable{Path: "elsewhere/x", Items: map[string]string{"k": "v"}}, nil)
		requireForbidden(t, err, "deploy token writes a variable outside nomad/jobs")
		_, _, err = deployNomad.ACLTokens().List(nil)
		requireForbidden(t, err, "deploy token lists ACL tokens")
		_, err = deployNomad.Nodes().ToggleEligibility(alloc.NodeID, false, nil)
		requireForbidden(t, err, "deploy token changes a node's eligibility")
		_, err = deployNomad.Operator().RaftGetConfiguration(nil)
		requireForbidden(t, err, "deploy token reads the Raft configuration")
		_, err = deployNomad.Namespaces().Register(&nomadapi.Namespace{Name: "elsewhere"}, nil)
		requireForbidden(t, err, "deploy token creates a namespace")

		_, err = deployConsul.KV().Put(&consulapi.KVPair{Key: "poolctl/scryptpool/config", Value: []byte("{}")}, nil)
		require.NoError(t, err, "write the pool's key with the Consul deploy token")
		_, err = deployConsul.KV().Put(&consulapi.KVPair{Key: "elsewhere", Value: []byte("x")}, nil)
		requireForbidden(t, err, "Consul deploy token writes outside poolctl/")
		_, _, err = deployConsul.ACL().TokenList(nil)
		requireForbidden(t, err, "Consul deploy token lists ACL tokens")
		err = deployConsul.Agent().ForceLeave("node-05")
		requireForbidden(t, err, "Consul deploy token makes a node leave")
	})

	t.Run("a task reaches Consul with its job's identity", func(t *testing.T) {
		checkTaskConsulIdentity(t, c, deployNomad, nomadMgmt)
	})
	t.Run("a task reads its own job's variable only", func(t *testing.T) { checkTaskVariables(t, c, nomadMgmt) })
	t.Run("a job without a Consul policy gets no Consul token", func(t *testing.T) { checkNoPolicyNoToken(t, nomadMgmt) })
	t.Run("the task's chroot carries no agent secrets", func(t *testing.T) { checkTaskChroot(t, c, nomadMgmt) })

	poolRuns := t.Run("the pool runs, mines and pays with the deploy tokens only", func(t *testing.T) {
		checkPoolRuns(t, c, c.addrs.LAN())
	})
	t.Run("the floating address's check passes exactly where a stratum server runs", func(t *testing.T) {
		if !poolRuns {
			t.Skip("the pool does not run")
		}
		checkFloatingCheck(t, c, deployConsul)
	})

	t.Run("add-node.yml brings one more node in", func(t *testing.T) {
		n := &testNode{name: "node-06", addr: c.nodeAddr(6), iface: c.nodeIface(6)}
		c.addNode(t, baseRoot(t), n)
		_, r := c.playbook(t, "add-node.yml", "-e", "node=node-06", "-e", "pool_agents_running=true")
		require.Positive(t, r["node-06"].changed)
		// On the other nodes only the firewall changes, to admit the new
		// node, and keepalived's peers, to send it adverts (and on the
		// first server acl.yml creates its agent token).
		for _, old := range c.nodes[:len(c.nodes)-1] {
			rules, err := os.ReadFile(filepath.Join(old.root, "etc", "nftables.conf"))
			require.NoError(t, err)
			require.Contains(t, string(rules), n.addr, "%s's firewall does not admit the new node", old.name)
			if old != c.nodes[0] {
				require.Equal(t, 2, r[old.name].changed, "add-node.yml changed more than the firewall and keepalived's peers on %s", old.name)
			}
		}
		checkKeepalived(t, c)
		agents[n.name] = c.startAgents(t, n)
		waitMembers(t, consulMgmt, len(c.nodes))
		waitClientsReady(t, nomadMgmt, c.nodes)
	})

	t.Run("the firewall admits the pool's ports from the nodes only", func(t *testing.T) { checkFirewall(t, c, c.nodes[0]) })

	t.Run("autopilot keeps a server that is slow to return", func(t *testing.T) {
		checkAutopilot(t, consulMgmt, nomadMgmt)
	})

	t.Run("the cluster keeps a leader with one server stopped", func(t *testing.T) {
		// No job may outlive its agent: stop them first.
		waitStopped(t, nomadMgmt, "provision-sleep")
		stopped := c.nodes[2]
		agents[stopped.name].nomad.stop(t)
		agents[stopped.name].consul.stop(t)
		waitConsulLeader(t, consulMgmt, stopped.addr)
		waitNomadLeader(t, nomadMgmt, stopped.addr)
		// Stopped as systemd stops it (SIGINT), a server does not leave:
		// it is still a voter of both peer sets.
		requireRaftVoter(t, consulMgmt, nomadMgmt, stopped.name)
		_, err := consulMgmt.KV().Put(&consulapi.KVPair{Key: "poolctl/quorum", Value: []byte("ok")}, nil)
		require.NoError(t, err, "write to Consul with one server stopped")
		// Not on the stopped node: when it was the leader, the new leader
		// gives every client failover_heartbeat_ttl (5 min) before it
		// marks one down, and a job placed there meanwhile never starts.
		afterLoss := sleepJob("provision-after-loss")
		afterLoss.Constrain(nomadapi.NewConstraint("${node.unique.name}", "!=", stopped.name))
		_, _, err = nomadMgmt.Jobs().Register(afterLoss, nil)
		require.NoError(t, err, "register a job with one server stopped")
		waitRunning(t, nomadMgmt, "provision-after-loss")
		waitStopped(t, nomadMgmt, "provision-after-loss")
		// Nor has autopilot removed it since (min_quorum).
		requireRaftVoter(t, consulMgmt, nomadMgmt, stopped.name)
	})
}

// checkAutopilot checks the servers bootstrapped autopilot with the roles'
// settings: dead servers are cleaned up only down to the inventory's
// server count, and a server is healthy with the last contact a Pi's SD
// card allows.
func checkAutopilot(t *testing.T, consul *consulapi.Client, nomad *nomadapi.Client) {
	t.Helper()
	cc, err := consul.Operator().AutopilotGetConfiguration(nil)
	require.NoError(t, err)
	require.True(t, cc.CleanupDeadServers)
	require.Equal(t, uint(3), cc.MinQuorum, "Consul's autopilot min_quorum")
	require.NotNil(t, cc.LastContactThreshold)
	require.Equal(t, 2*time.Second, cc.LastContactThreshold.Duration(), "Consul's autopilot last_contact_threshold")
	nc, _, err := nomad.Operator().AutopilotGetConfiguration(nil)
	require.NoError(t, err)
	require.True(t, nc.CleanupDeadServers)
	require.Equal(t, uint(3), nc.MinQuorum, "Nomad's autopilot min_quorum")
	require.Equal(t, time.Second, nc.LastContactThreshold, "Nomad's autopilot last_contact_threshold")
}

// requireRaftVoter checks the server named is a voter in Consul's and in
// Nomad's Raft configuration.
func requireRaftVoter(t *testing.T, consul *consulapi.Client, nomad *nomadapi.Client, name string) {
	t.Helper()
	cr, err := consul.Operator().RaftGetConfiguration(nil)
	require.NoError(t, err)
	var consulVoters []string
	for _, s := range cr.Servers {
		if s.Voter {
			consulVoters = append(consulVoters, s.Node)
		}
	}
	require.Contains(t, consulVoters, name, "Consul's Raft voters")
	nr, err := nomad.Operator().RaftGetConfiguration(nil)
	require.NoError(t, err)
	var nomadVoters []string
	for _, s := range nr.Servers {
		if s.Voter {
			// Nomad names a server <node>.<region>.
			nomadVoters = append(nomadVoters, strings.TrimSuffix(s.Node, ".global"))
		}
	}
	require.Contains(t, nomadVoters, name, "Nomad's Raft voters")
}

func checkWrittenFiles(t *testing.T, root string) {
	t.Helper()
	cmdline, err := os.ReadFile(filepath.Join(root, "boot/firmware/cmdline.txt"))
	require.NoError(t, err)
	require.Contains(t, string(cmdline), "rootwait cgroup_enable=memory cgroup_memory=1\n")
	for _, f := range []struct {
		path string
		mode os.FileMode
	}{
		{"etc/nomad.d/nomad.hcl", 0o600},
		{"etc/nomad.d/tls/agent-key.pem", 0o600},
		{"etc/consul.d/consul.hcl", 0o640},
		{"etc/consul.d/tls/agent-key.pem", 0o640},
		{"etc/sudoers.d/pool", 0o440},
		{"etc/nftables.conf", 0o600},
		{"etc/ssl/pool/ca.pem", 0o644},
		{"etc/keepalived/keepalived.conf", 0o640},
		{"etc/keepalived/consul.token", 0o640},
	} {
		st, err := os.Stat(filepath.Join(root, f.path))
		require.NoError(t, err)
		require.Equal(t, f.mode, st.Mode().Perm(), f.path)
	}
}

// waitMembers waits until Consul's LAN gossip pool has n alive members.
func waitMembers(t *testing.T, client *consulapi.Client, n int) {
	t.Helper()
	eventually(t, 3*time.Minute, fmt.Sprintf("%d alive Consul members", n), func(ctx context.Context) error {
		members, err := client.Agent().MembersOpts(consulapi.MembersOpts{})
		if err != nil {
			return err
		}
		alive := 0
		for _, m := range members {
			if m.Status == 1 {
				alive++
			}
		}
		if alive != n {
			return fmt.Errorf("%d of %d alive", alive, len(members))
		}
		return nil
	})
}

// waitClientsReady follows the node list with blocking queries until every
// node's Nomad client is ready.
func waitClientsReady(t *testing.T, client *nomadapi.Client, nodes []*testNode) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var index uint64
	for {
		list, meta, err := client.Nodes().List((&nomadapi.QueryOptions{WaitIndex: index, WaitTime: 30 * time.Second}).WithContext(ctx))
		require.NoError(t, err, "nomad node list")
		ready := map[string]bool{}
		for _, n := range list {
			ready[n.Name] = n.Status == "ready"
		}
		missing := 0
		for _, n := range nodes {
			if !ready[n.name] {
				missing++
			}
		}
		if missing == 0 {
			return
		}
		index = meta.LastIndex
	}
}
