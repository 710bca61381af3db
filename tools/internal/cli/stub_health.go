package cli

import "github.com/urfave/cli/v2"

func healthCommand() *cli.Command { return &cli.Command{Name: "health"} }
