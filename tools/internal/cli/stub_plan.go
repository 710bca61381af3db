package cli

import "github.com/urfave/cli/v2"

func planCommand() *cli.Command { return &cli.Command{Name: "plan"} }
