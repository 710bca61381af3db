package localdb

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
)

// ConsulOptions shape a Consul dev agent.
type ConsulOptions struct {
	// Bin is the pinned consul (binaries.Consul).
	Bin string
	// Dir receives the agent's configuration file.
	Dir string
	// Management turns ACLs on, default deny, with this management token.
	Management string
	// Output receives the agent's output (nil: discarded).
	Output io.Writer
}

// Consul is a real Consul dev agent (one server, state in memory) on
// 127.0.0.1 and free ports.
type Consul struct {
	Cmd  *exec.Cmd
	Addr string // HTTP API, host:port
	// Management is the management token when ACLs are on.
	Management string
	exited     chan struct{}
}

// StartConsul starts the agent and waits, within ctx, until it has
// elected itself leader.
func StartConsul(ctx context.Context, o ConsulOptions) (*Consul, error) {
	httpPort, err := FreePort()
	if err != nil {
		return nil, err
	}
	c := &Consul{Addr: fmt.Sprintf("127.0.0.1:%d", httpPort), Management: o.Management}

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
		port, err := FreePort()
		if err != nil {
			return nil, err
		}
		ports.SetAttributeValue(p, cty.NumberIntVal(int64(port)))
	}
	for _, p := range []string{"dns", "grpc", "grpc_tls"} {
		ports.SetAttributeValue(p, cty.NumberIntVal(-1))
	}
	if o.Management != "" {
		acl := b.AppendNewBlock("acl", nil).Body()
		acl.SetAttributeValue("enabled", cty.True)
		acl.SetAttributeValue("default_policy", cty.StringVal("deny"))
		tokens := acl.AppendNewBlock("tokens", nil).Body()
		tokens.SetAttributeValue("initial_management", cty.StringVal(o.Management))
		tokens.SetAttributeValue("agent", cty.StringVal(o.Management))
	}
	config := filepath.Join(o.Dir, "consul.hcl")
	if err := os.WriteFile(config, hclwrite.Format(f.Bytes()), 0o644); err != nil {
		return nil, fmt.Errorf("write consul's configuration: %w", err)
	}

	c.Cmd = exec.Command(o.Bin, "agent", "-dev", "-config-file", config)
	c.Cmd.Stdout, c.Cmd.Stderr = o.Output, o.Output
	// A program killed without running its cleanup (a test's timeout, a
	// signal) must not leave the agent behind.
	c.Cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := c.Cmd.Start(); err != nil {
		return nil, fmt.Errorf("start consul: %w", err)
	}
	c.exited = make(chan struct{})
	go func() {
		_ = c.Cmd.Wait()
		close(c.exited)
	}()

	client, err := c.Client(o.Management)
	if err != nil {
		c.Stop()
		return nil, err
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		leader, err := client.Status().Leader()
		if err == nil && leader != "" {
			return c, nil
		}
		select {
		case <-c.exited:
			return nil, fmt.Errorf("the consul dev agent exited: %v", c.Cmd.ProcessState)
		case <-ctx.Done():
			c.Stop()
			return nil, fmt.Errorf("the consul dev agent at %s elected no leader (last answer: %v): %w", c.Addr, err, ctx.Err())
		case <-tick.C:
		}
	}
}

// Client is an API client of the agent that sends token ("": anonymous),
// never the environment's.
func (c *Consul) Client(token string) (*consulapi.Client, error) {
	cfg := consulapi.DefaultConfig()
	cfg.Address = c.Addr
	cfg.Token = token
	client, err := consulapi.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("consul client of %s: %w", c.Addr, err)
	}
	return client, nil
}

// Exited is closed when the agent has exited.
func (c *Consul) Exited() <-chan struct{} { return c.exited }

// Stop kills the agent and waits for it; stopping twice is harmless.
func (c *Consul) Stop() {
	select {
	case <-c.exited:
	default:
		_ = c.Cmd.Process.Kill()
		<-c.exited
	}
}
