package cli_test

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/cli"
	"github.com/scryptpool/poolmicrocloud/tools/internal/cluster"
	"github.com/scryptpool/poolmicrocloud/tools/internal/testenv"
)

// A wallet whose chain data is corrupt never starts: deploy fails and
// says so in the daemon's own words, and status keeps saying it.
func TestWalletWithCorruptChainData(t *testing.T) {
	pool, jobs := testenv.LoadPool(t, dev)
	c := testenv.DevCluster(t, pool, jobs)
	volume := c.Clients()[0].Volumes["ltc-chain"]
	require.NotEmpty(t, volume)
	for _, instance := range []string{"0", "1"} {
		for _, db := range []string{"blocks/index", "chainstate"} {
			dir := filepath.Join(volume, instance, "regtest", db)
			require.NoError(t, os.MkdirAll(dir, 0o755))
			require.NoError(t, os.WriteFile(filepath.Join(dir, "CURRENT"), []byte("not a leveldb manifest\n"), 0o644))
		}
		require.NoError(t, filepath.Walk(filepath.Join(volume, instance), func(p string, _ os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			return os.Chown(p, 65534, 65534)
		}))
	}
	code, stdout, stderr := run(t, append([]string{"deploy"}, append(connArgs(c), dev)...)...)
	require.Equal(t, cli.ExitFailed, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	assert.Regexp(t, `ltc-wallet\s+stopped`, stdout)
	assert.Contains(t, stderr, "Error opening block database", "the daemon's own words")

	code, stdout, _ = run(t, append([]string{"status"}, append(connArgs(c), dev)...)...)
	require.Equal(t, cli.ExitOK, code)
	assert.Contains(t, stdout, "ltc-wallet failed:")
	assert.Contains(t, stdout, "Error opening block database")
}

// A port Nomad hands out that something else on the node already holds:
// whichever task gets it (the database, a wallet's RPC or P2P, a probe)
// cannot bind, and deploy says which and why within a minute or two, not
// at the progress deadline.
func TestPortTakenOutsideNomad(t *testing.T) {
	pool, jobs := testenv.LoadPool(t, dev)
	clients := cluster.ModelClients(pool, jobs)
	// Exactly the ports the database and two wallets (rpc, p2p, probe
	// each) need, so Nomad must hand out the one taken below.
	const first = 24600
	clients[0].MinDynamicPort, clients[0].MaxDynamicPort = first, first+6
	c := testenv.StartCluster(t, pool, testenv.ClusterOptions{Clients: clients})
	taken, err := net.Listen("tcp", net.JoinHostPort(c.Nodes[0].IP, strconv.Itoa(first+3)))
	require.NoError(t, err)
	defer taken.Close()

	code, stdout, stderr := run(t, append([]string{"deploy"}, append(connArgs(c), dev)...)...)
	require.Equal(t, cli.ExitFailed, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	lower := strings.ToLower(stderr)
	assert.True(t, strings.Contains(lower, "in use") || strings.Contains(stderr, strconv.Itoa(first+3)),
		"the cause names the taken port or says it is in use:\n%s", stderr)
}
