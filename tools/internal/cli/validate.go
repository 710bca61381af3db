package cli

import (
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/scryptpool/poolmicrocloud/tools/internal/diag"
	"github.com/scryptpool/poolmicrocloud/tools/internal/validate"
)

func validateCommand() *cli.Command {
	return &cli.Command{
		Name:      "validate",
		Usage:     "check a pool definition: schema, rules, and capacity with and without lost nodes",
		ArgsUsage: "[FILE]",
		Description: "Reports every problem at once with file:line:col and a source snippet, and\n" +
			"prints the capacity report (headroom, nodes that may be lost). Offline: it\n" +
			"talks to no cluster. Exit 2 when the definition has errors.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only problems, not the capacity report"},
		},
		Action: func(c *cli.Context) error {
			_, err := runValidate(poolFile(c), c.Bool("quiet"), c.App.Writer, c.App.ErrWriter)
			return err
		},
	}
}

// runValidate validates path, prints what it found, and returns the result
// when it can be used, or an exit-code error when not.
func runValidate(path string, quiet bool, stdout, stderr io.Writer) (*validate.Result, error) {
	r := validate.File(path)
	if err := diag.Write(stderr, r.Files, r.Diags, 0); err != nil {
		return nil, err
	}
	if !r.OK() {
		return nil, reported(ExitInvalid, "%s is invalid", path)
	}
	if !quiet {
		fmt.Fprintf(stdout, "%s: pool %q is valid: %d jobs\n", path, r.Pool.Name, len(r.Jobs))
		r.Capacity.WriteSummary(stdout)
	}
	return r, nil
}
