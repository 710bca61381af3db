package cli

import "github.com/urfave/cli/v2"

func deployCommand() *cli.Command { return &cli.Command{Name: "deploy"} }
