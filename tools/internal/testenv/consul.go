package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/stretchr/testify/require"
	"github.com/zclconf/go-cty/cty"

	"github.com/scryptpool/poolmicrocloud/tools/internal/binaries"
)

// Consul is a real Consul dev agent (one server, state in memory) started
// by a test, outside Nomad, on 127.0.0.1 and free ports.
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
	dir := t.TempDir()
	httpPort := freePort(t)
	c := &Consul{Addr: fmt.Sprintf("127.0.0.1:%d", httpPort), Management: management}

	f := hclwrite.NewEmptyFile()
	b := f.Body()
	b.SetAttributeValue("node_name", cty.StringVal("test"))
	for _, a := range []string{"bind_addr", "advertise_addr", "client_addr"} {
		b.SetAttributeValue(a, cty.StringVal("127.0.0.1"))
	}
	b.SetAttributeValue("disable_update_check", cty.True)
	b.SetAttributeValue("log_level", cty.StringVal("WARN"))
	ports := b.AppendNewBlock("ports", nil).Body()
	ports.SetAttributeValue("http", cty.NumberIntVal(int64(httpPort)))
	for _, p := range []string{"server", "serf_lan", "serf_wan"} {
		ports.SetAttributeValue(p, cty.NumberIntVal(int64(freePort(t))))
	}
	for _, p := range []string{"dns", "grpc", "grpc_tls"} {
		ports.SetAttributeValue(p, cty.NumberIntVal(-1))
	}
	if management != "" {
		acl := b.AppendNewBlock("acl", nil).Body()
		acl.SetAttributeValue("enabled", cty.True)
		acl.SetAttributeValue("default_policy", cty.StringVal("deny"))
		tokens := acl.AppendNewBlock("tokens", nil).Body()
		tokens.SetAttributeValue("initial_management", cty.StringVal(management))
		tokens.SetAttributeValue("agent", cty.StringVal(management))
	}
	config := filepath.Join(dir, "consul.hcl")
	require.NoError(t, os.WriteFile(config, hclwrite.Format(f.Bytes()), 0o644))

	c.Cmd = exec.Command(bin, "agent", "-dev", "-config-file", config)
	c.Cmd.Stdout, c.Cmd.Stderr = os.Stderr, os.Stderr
	// A test binary killed by a timeout or a signal runs no cleanup; the
	// agent must not outlive it.
	c.Cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	require.NoError(t, c.Cmd.Start())
	exited := make(chan struct{})
	go func() {
		_ = c.Cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = c.Cmd.Process.Kill()
		<-exited
	})

	client := c.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		leader, err := client.Status().Leader()
		if err == nil && leader != "" {
			return c
		}
		select {
		case <-exited:
			require.FailNow(t, "the consul dev agent exited", "%v", c.Cmd.ProcessState)
		case <-ctx.Done():
			require.NoError(t, err, "the consul dev agent at %s elected no leader", c.Addr)
			require.FailNow(t, "the consul dev agent elected no leader", c.Addr)
		case <-tick.C:
		}
	}
}
