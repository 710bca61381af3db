package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/scryptpool/poolmicrocloud/tools/internal/config"
	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
	"github.com/scryptpool/poolmicrocloud/tools/internal/deploy"
)

func deployCommand() *cli.Command {
	return &cli.Command{
		Name:      "deploy",
		Usage:     "register the pool's jobs in dependency order and follow them to healthy",
		ArgsUsage: "[FILE]",
		Description: "Validates offline (exit 2) and on the servers, plans, and stops before\n" +
			"sending anything if a job would not place (exit 3). Then writes the pool's\n" +
			"configuration and expected services to Consul KV, registers the pool's check,\n" +
			"and registers the database, wallets, stratum servers and periodic jobs in that\n" +
			"order, each stage followed to healthy with blocking queries (progress on\n" +
			"stderr). A failed deployment is reverted by Nomad to the last stable version,\n" +
			"or stopped if there is none, with the cause from the task events (exit 3).\n" +
			"Jobs whose poolctl subcommand does not exist yet are listed as not deployable.",
		Flags: append(connFlags(),
			&cli.DurationFlag{Name: "timeout", Value: 30 * time.Minute, Usage: "give up (exit 3) when the rollout takes longer"},
			&cli.BoolFlag{Name: "keep-failed", Usage: "leave a failed first version running instead of stopping it"},
		),
		Action: func(c *cli.Context) error {
			r, err := runValidate(poolFile(c), true, io.Discard, c.App.ErrWriter)
			if err != nil {
				return err
			}
			clients, plan, err := planPool(c, r, contract.CommandDeploy)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout"))
			defer cancel()
			return runDeploy(ctx, c, clients, r.Pool, plan, c.Bool("keep-failed"), "the rollout")
		},
	}
}

// runDeploy rolls the plan out, prints each job's outcome on stdout and
// maps the result to the exit codes: a failed rollout or one past
// --timeout (what names it) exit 3, anything else 1.
func runDeploy(ctx context.Context, c *cli.Context, clients *deploy.Clients, pool *config.Pool, plan *deploy.Plan, keepFailed bool, what string) error {
	outcomes, err := deploy.Run(ctx, clients, pool, plan, deploy.Options{
		Progress:   c.App.ErrWriter,
		KeepFailed: keepFailed,
		Version:    Version,
	})
	for _, o := range outcomes {
		fmt.Fprintf(c.App.Writer, "%-24s %-12s %s\n", o.Job, o.Result, o.Detail)
	}
	var failed *deploy.Failed
	switch {
	case errors.As(err, &failed):
		return withCode(ExitFailed, err)
	case errors.Is(err, context.DeadlineExceeded):
		return withCode(ExitFailed, fmt.Errorf("%s did not finish within %s", what, c.Duration("timeout")))
	case err != nil:
		return withCode(ExitRuntime, err)
	}
	return nil
}
