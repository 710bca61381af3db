package provision

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// The cluster of the test: three servers (one of them with a fake Pi
// firmware command line) and two clients, one holding chain data, one the
// database.
func convergedCluster(t *testing.T) *testCluster {
	c := newTestCluster(t)
	tarball := baseRoot(t)
	for _, n := range []*testNode{
		{name: "node-01", server: true, addr: nodeAddr(1), fakePi: true},
		{name: "node-02", server: true, addr: nodeAddr(2)},
		{name: "node-03", server: true, addr: nodeAddr(3)},
		{name: "node-04", addr: nodeAddr(4), volumes: []string{"ltc-chain:nobody"}},
		{name: "node-05", addr: nodeAddr(5), volumes: []string{"pool-data:postgres"}},
	} {
		c.addNode(t, tarball, n)
	}
	_, first := c.playbook(t, "site.yml")
	for _, n := range c.nodes {
		require.Positive(t, first[n.name], "the first run changed nothing on %s", n.name)
	}
	out, second := c.playbook(t, "site.yml")
	for _, n := range c.nodes {
		require.Zero(t, second[n.name], "the second run of site.yml changed %s:\n%s", n.name, out)
	}
	return c
}

func TestSiteConvergesIdempotently(t *testing.T) {
	c := convergedCluster(t)
	root := c.nodes[0].root
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
	} {
		st, err := os.Stat(filepath.Join(root, f.path))
		require.NoError(t, err)
		require.Equal(t, f.mode, st.Mode().Perm(), f.path)
	}
}
