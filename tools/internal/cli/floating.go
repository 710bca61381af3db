package cli

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/scryptpool/poolmicrocloud/tools/internal/deploy"
	"github.com/scryptpool/poolmicrocloud/tools/internal/floating"
)

func floatingCheckCommand() *cli.Command {
	return &cli.Command{
		Name:  "floating-check",
		Usage: "exit 0 when this node may hold the floating address (run by keepalived)",
		Description: "Asks the local Consul agent for this node's instance of each --service and\n" +
			"exits 0 when every one is registered here and passes all its checks; else\n" +
			"prints why in one line and exits 1. keepalived runs it every few seconds on\n" +
			"every node (the floating_address role) and gives the floating address up\n" +
			"while it fails. The token needs only service:read on the services.",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "service", Required: true, Usage: "a Consul service that must pass on this node (repeatable)"},
			&cli.StringFlag{Name: "consul-address", Usage: "the local Consul agent's HTTP API address (default $CONSUL_HTTP_ADDR or 127.0.0.1:8500)"},
			&cli.StringFlag{Name: "consul-ca-cert", Usage: "CA certificate for Consul's TLS (default $CONSUL_CACERT)"},
			&cli.StringFlag{Name: "consul-token-file", Usage: "file holding the Consul ACL token (default $CONSUL_HTTP_TOKEN)"},
			&cli.DurationFlag{Name: "timeout", Value: 4 * time.Second, Usage: "give up (and fail) after this long"},
		},
		Action: func(c *cli.Context) error {
			o := deploy.ConnOptions{ConsulAddress: c.String("consul-address"), ConsulCACert: c.String("consul-ca-cert")}
			if f := c.String("consul-token-file"); f != "" {
				b, err := os.ReadFile(f)
				if err != nil {
					return withCode(ExitRuntime, fmt.Errorf("read the Consul token: %w", err))
				}
				o.ConsulToken = strings.TrimSpace(string(b))
			}
			consul, _, err := deploy.NewConsul(o)
			if err != nil {
				return withCode(ExitRuntime, err)
			}
			ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout"))
			defer cancel()
			if err := floating.Check(ctx, consul, c.StringSlice("service")); err != nil {
				return withCode(ExitRuntime, err)
			}
			return nil
		},
	}
}
