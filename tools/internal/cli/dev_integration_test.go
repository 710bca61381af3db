package cli_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/binaries"
	"github.com/scryptpool/poolmicrocloud/tools/internal/cluster"
	"github.com/scryptpool/poolmicrocloud/tools/internal/testenv"
)

func poolctl(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(testenv.Poolctl(t), args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return code, stdout.String(), stderr.String()
}

// The dev cluster commands, as an operator uses them, through the built
// binary (dev up installs itself into the cluster for the tasks).
func TestDevCommands(t *testing.T) {
	testenv.Integration(t)
	state := filepath.Join(t.TempDir(), "dev")
	// The pinned binaries are found in the cache, not built by the binary.
	testenv.Tool(t, binaries.Nomad)
	testenv.Tool(t, binaries.Consul)

	code, stdout, stderr := poolctl(t, "dev", "up", "--slot", "-1", "--state-dir", state, dev)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "export NOMAD_ADDR=http://198.18.")
	c, err := cluster.Load(state, nil)
	require.NoError(t, err)
	t.Cleanup(func() {
		if c.Running() {
			_ = c.Down(t.Context())
		}
	})

	code, stdout, _ = poolctl(t, "dev", "status", "--state-dir", state)
	assert.Equal(t, 0, code)
	assert.Contains(t, stdout, ": running")
	assert.Contains(t, stdout, "host volume pool-data")

	code, stdout, stderr = poolctl(t, "dev", "up", "--slot", "-1", "--state-dir", state, dev)
	assert.Equal(t, 0, code, "a second dev up finds the running cluster")
	assert.Contains(t, stderr, "already running")
	assert.Contains(t, stdout, c.NomadAddr())

	code, stdout, _ = poolctl(t, "dev", "env", "--state-dir", state)
	assert.Equal(t, 0, code)
	assert.Equal(t, "export NOMAD_ADDR="+c.NomadAddr()+"\nexport CONSUL_HTTP_ADDR="+c.ConsulAddr()+"\n", stdout)

	code, _, stderr = poolctl(t, "dev", "down", "--purge", "--state-dir", state)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stderr, "dev cluster stopped")
	_, err = os.Stat(state)
	assert.True(t, os.IsNotExist(err), "--purge removes the state directory")
	for _, n := range c.Nodes {
		assert.Empty(t, cluster.ListeningPorts(n.IP))
		assert.Error(t, exec.Command("ip", "link", "show", n.Interface).Run(), "interface %s left behind", n.Interface)
	}

	code, _, stderr = poolctl(t, "dev", "status", "--state-dir", state)
	assert.Equal(t, 1, code)
	assert.True(t, strings.Contains(stderr, "no dev cluster"), stderr)
}

// dev up --nodes starts Pi-sized clients beside server-only agents, each
// node with its own address and Consul agent, as Nomad reports them.
func TestDevUpPiShapedNodes(t *testing.T) {
	testenv.Integration(t)
	state := filepath.Join(t.TempDir(), "dev")
	testenv.Tool(t, binaries.Nomad)
	testenv.Tool(t, binaries.Consul)

	code, _, stderr := poolctl(t, "dev", "up", "--slot", "-1", "--state-dir", state, "--nodes", "3", "--servers", "1", dev)
	require.Equal(t, 0, code, stderr)
	c, err := cluster.Load(state, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Down(context.Background()) })

	nomad, err := c.NomadClient()
	require.NoError(t, err)
	stubs, _, err := nomad.Nodes().List(nil)
	require.NoError(t, err)
	require.Len(t, stubs, 3, "three clients; the server runs no client")
	addresses := map[string]bool{}
	for _, stub := range stubs {
		n, _, err := nomad.Nodes().Info(stub.ID, nil)
		require.NoError(t, err)
		assert.Equal(t, "ready", n.Status, n.Name)
		assert.EqualValues(t, 4800, n.NodeResources.Cpu.CpuShares, "%s: 4 x 1200 MHz", n.Name)
		assert.EqualValues(t, 1024, n.NodeResources.Memory.MemoryMB, "%s: 1 GiB", n.Name)
		assert.Contains(t, n.HostVolumes, "ltc-chain", n.Name)
		addresses[n.HTTPAddr] = true
		assert.NotEmpty(t, n.Meta["consul_http_addr"], n.Name)
	}
	assert.Len(t, addresses, 3, "each node on its own address")
	servers, err := nomad.Agent().Members()
	require.NoError(t, err)
	assert.Len(t, servers.Members, 1)

	consul, err := c.ConsulClient()
	require.NoError(t, err)
	members, err := consul.Agent().Members(false)
	require.NoError(t, err)
	assert.Len(t, members, 4, "a Consul agent on every node, the server's too")

	code, _, stderr = poolctl(t, "dev", "down", "--purge", "--state-dir", state)
	require.Equal(t, 0, code, stderr)
	for _, n := range c.Nodes {
		assert.Empty(t, cluster.ListeningPorts(n.IP))
	}
}
