package cli

import (
	"errors"
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
	"github.com/scryptpool/poolmicrocloud/tools/internal/deploy"
	"github.com/scryptpool/poolmicrocloud/tools/internal/validate"
)

func planCommand() *cli.Command {
	return &cli.Command{
		Name:      "plan",
		Usage:     "validate the jobs on the Nomad servers and show what a deploy would change",
		ArgsUsage: "[FILE]",
		Description: "Validates offline first (exit 2), then has Nomad's servers validate and plan\n" +
			"every job, and prints each diff, what the scheduler would do, and any\n" +
			"placement failure. Changes nothing. Exit 3 when something would not place.",
		Flags: connFlags(),
		Action: func(c *cli.Context) error {
			r, err := runValidate(poolFile(c), true, io.Discard, c.App.ErrWriter)
			if err != nil {
				return err
			}
			_, plan, err := planPool(c, r, contract.CommandPlan)
			if err != nil {
				return err
			}
			plan.Write(c.App.Writer)
			if bad := plan.Unplaceable(); len(bad) > 0 {
				return withCode(ExitFailed, fmt.Errorf("%d job(s) would not be placed", len(bad)))
			}
			return nil
		},
	}
}

// planPool connects and plans every job of a validated pool.
func planPool(c *cli.Context, r *validate.Result, command string) (*deploy.Clients, *deploy.Plan, error) {
	clients, err := connect(c, r, command)
	if err != nil {
		return nil, nil, err
	}
	plan, err := deploy.MakePlan(c.Context, clients, r.Jobs, Implemented)
	var invalid *deploy.Invalid
	if errors.As(err, &invalid) {
		return nil, nil, withCode(ExitInvalid, err)
	}
	if err != nil {
		return nil, nil, withCode(ExitRuntime, err)
	}
	return clients, plan, nil
}

// connect reaches Nomad and Consul and checks that the tokens may do what
// command does for the pool, before anything is sent.
func connect(c *cli.Context, r *validate.Result, command string) (*deploy.Clients, error) {
	clients, err := deploy.Connect(c.Context, connOptions(c))
	if err != nil {
		return nil, withCode(ExitRuntime, err)
	}
	if err := deploy.Preflight(c.Context, clients, contract.FromConfig(r.Pool), command); err != nil {
		return nil, withCode(ExitRuntime, err)
	}
	return clients, nil
}
