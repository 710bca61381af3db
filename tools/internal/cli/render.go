package cli

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/scryptpool/poolmicrocloud/tools/internal/jobspec"
	"github.com/scryptpool/poolmicrocloud/tools/internal/pack"
)

func renderCommand() *cli.Command {
	return &cli.Command{
		Name:      "render",
		Usage:     "write the pool's Nomad jobs as job files",
		ArgsUsage: "[FILE]",
		Description: "Validates the pool definition, then writes one <job>.nomad.hcl per job into\n" +
			"the output directory (or all of them to stdout). The files run by hand with\n" +
			"`nomad job run`.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "directory to write job files into (default: stdout)"},
			&cli.BoolFlag{Name: "json", Usage: "write the jobs as API JSON ({\"Job\": ...}) instead of HCL"},
			&cli.StringFlag{Name: "pack-vars", Usage: "also write the nomad-pack variables file for packs/scryptpool to this path"},
		},
		Action: func(c *cli.Context) error {
			r, err := runValidate(poolFile(c), true, c.App.Writer, c.App.ErrWriter)
			if err != nil {
				return err
			}
			if vars := c.String("pack-vars"); vars != "" {
				if err := os.WriteFile(vars, pack.Vars(r.Pool), 0o644); err != nil {
					return fmt.Errorf("write pack variables: %w", err)
				}
			}
			if dir := c.String("output"); dir != "" {
				paths, err := jobspec.WriteFiles(dir, r.Pool.Name, r.Jobs, c.Bool("json"))
				for _, p := range paths {
					fmt.Fprintln(c.App.Writer, p)
				}
				return err
			}
			for _, j := range r.Jobs {
				content := j.HCL(r.Pool.Name)
				if c.Bool("json") {
					if content, err = j.JSON(); err != nil {
						return err
					}
				}
				if _, err := c.App.Writer.Write(content); err != nil {
					return err
				}
			}
			return nil
		},
	}
}
