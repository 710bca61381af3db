package testenv

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/binaries"
	"github.com/scryptpool/poolmicrocloud/tools/internal/localdb"
)

// Consul is a real Consul dev agent (one server, state in memory) started
// by a test, outside Nomad, on 127.0.0.1 and free ports (localdb's).
type Consul struct {
	Cmd  *exec.Cmd
	Addr string // HTTP API, host:port
	// Management is the management token when ACLs are on.
	Management string
}

// Client returns an API client of the agent, with the management token
// when ACLs are on (never the environment's token).
func (c *Consul) Client(t testing.TB) *consulapi.Client {
	t.Helper()
	return c.ClientWithToken(t, c.Management)
}

// ClientWithToken returns an API client of the agent that sends token ("":
// anonymous).
func (c *Consul) ClientWithToken(t testing.TB, token string) *consulapi.Client {
	t.Helper()
	cfg := consulapi.DefaultConfig()
	cfg.Address = c.Addr
	cfg.Token = token
	client, err := consulapi.NewClient(cfg)
	require.NoError(t, err)
	return client
}

// StartConsul starts the pinned Consul as a dev agent and waits until it
// has elected itself leader. It is killed when the test ends.
func StartConsul(t testing.TB) *Consul {
	t.Helper()
	return startConsul(t, "")
}

// StartConsulWithACLs starts the dev agent with ACLs on and default deny,
// as the provisioned cluster runs them; Management is its management token.
func StartConsulWithACLs(t testing.TB) *Consul {
	t.Helper()
	return startConsul(t, "3f0b6d52-6a5e-4c1b-9a77-5e3c0d8a1b42")
}

func startConsul(t testing.TB, management string) *Consul {
	t.Helper()
	Integration(t)
	bin := Tool(t, binaries.Consul)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	agent, err := localdb.StartConsul(ctx, localdb.ConsulOptions{
		Bin: bin, Dir: t.TempDir(), Management: management, Output: os.Stderr,
	})
	require.NoError(t, err)
	t.Cleanup(agent.Stop)
	return &Consul{Cmd: agent.Cmd, Addr: agent.Addr, Management: agent.Management}
}
