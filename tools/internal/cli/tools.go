package cli

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/scryptpool/poolmicrocloud/tools/internal/binaries"
)

func toolsCommand() *cli.Command {
	return &cli.Command{
		Name:  "tools",
		Usage: "find or build the pinned nomad, consul and nomad-pack, and print their paths",
		Description: "Looks for each program at its pinned version on PATH, then in the cache\n" +
			"($POOLCTL_CACHE_DIR, default ~/.cache/poolctl); builds it there from the Go\n" +
			"module proxy when missing (a few minutes, once). Needs go on PATH to build.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "pack", Usage: "also nomad-pack (needed only for the pack tests)"},
		},
		Action: func(c *cli.Context) error {
			tools := []binaries.Tool{binaries.Nomad, binaries.Consul}
			if c.Bool("pack") {
				tools = append(tools, binaries.NomadPack)
			}
			for _, t := range tools {
				p, err := binaries.Ensure(c.Context, t, c.App.ErrWriter)
				if err != nil {
					return err
				}
				fmt.Fprintf(c.App.Writer, "%s=%s\n", t.Name, p)
			}
			return nil
		},
	}
}
