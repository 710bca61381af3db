package cli

import (
	"github.com/urfave/cli/v2"

	"github.com/scryptpool/poolmicrocloud/tools/internal/catchup"
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
		}, {
			Name:  "catchup",
			Usage: "run once each periodic job whose slot passed with no launch, until stopped",
			Description: "Follows the pool's periodic jobs in Nomad with blocking queries. A job whose\n" +
				"latest slot passed with no launch (the cases Nomad's own catch-up skips: a slot\n" +
				"skipped for a run under way, after a power cut or a slow run, and a cut before\n" +
				"the job's first launch) is forced once, after any run under way ends, unless\n" +
				"its next slot is due; nothing is forced for 30 s after Nomad answers again or\n" +
				"its leader changes. The token needs list-jobs, read-job and dispatch-job in\n" +
				"the pool's namespace, no more.",
			Flags: append(connFlags(),
				&cli.StringFlag{Name: "pool", Required: true, Usage: "the pool's name"},
			),
			Action: func(c *cli.Context) error {
				nomad, _, err := deploy.NewNomad(taskConnOptions(c))
				if err != nil {
					return withCode(ExitRuntime, err)
				}
				return catchup.Run(c.Context, nomad, c.String("pool"), c.App.ErrWriter)
			},
		}},
	}
}
