package cli

import (
	"github.com/urfave/cli/v2"

	"github.com/scryptpool/poolmicrocloud/tools/internal/deploy"
	"github.com/scryptpool/poolmicrocloud/tools/internal/poolcheck"
)

func healthCommand() *cli.Command {
	return &cli.Command{
		Name:  "health",
		Usage: "the pool-level health check (run by the <pool>-health job)",
		Subcommands: []*cli.Command{{
			Name:  "watch",
			Usage: "keep the pool's Consul check current until stopped",
			Description: "Follows the services `poolctl deploy` recorded in Consul KV, and their\n" +
				"health, with blocking queries; publishes passing, warning (instances missing\n" +
				"or unhealthy) or critical (a service with no healthy instance).",
			Flags: append(connFlags(),
				&cli.StringFlag{Name: "pool", Required: true, Usage: "the pool's name"},
			),
			Action: func(c *cli.Context) error {
				consul, _, err := deploy.NewConsul(taskConnOptions(c))
				if err != nil {
					return withCode(ExitRuntime, err)
				}
				return poolcheck.Watch(c.Context, consul, c.String("pool"), c.App.ErrWriter)
			},
		}},
	}
}
