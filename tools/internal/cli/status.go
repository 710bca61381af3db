package cli

import (
	"io"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
	"github.com/scryptpool/poolmicrocloud/tools/internal/deploy"
)

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:      "status",
		Usage:     "one screen of the pool: nodes, jobs, allocations, the database's primary and replicas, Consul checks per service",
		ArgsUsage: "[FILE]",
		Flags: append(connFlags(), &cli.DurationFlag{
			Name:  "since",
			Value: 24 * time.Hour,
			Usage: "tell the events (nodes down and back, tasks a restart found dead, missed periodic slots, database promotions) of this long ago until now",
		}),
		Action: func(c *cli.Context) error {
			r, err := runValidate(poolFile(c), true, io.Discard, c.App.ErrWriter)
			if err != nil {
				return err
			}
			clients, err := connect(c, r, contract.CommandStatus)
			if err != nil {
				return err
			}
			s, err := deploy.ReadStatus(c.Context, clients, r.Pool.Name, r.Jobs, Implemented, r.Pool.Database.Instances, time.Now().Add(-c.Duration("since")))
			if err != nil {
				return withCode(ExitRuntime, err)
			}
			s.Write(c.App.Writer)
			return nil
		},
	}
}
