package cli

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/scryptpool/poolmicrocloud/tools/internal/inventory"
)

func inventoryCommand() *cli.Command {
	return &cli.Command{
		Name:      "inventory",
		Usage:     "write the Ansible inventory of the pool's cluster",
		ArgsUsage: "[FILE]",
		Description: "Validates the pool definition, then writes the Ansible inventory the\n" +
			"provisioning playbooks in ansible/ read: the server and client groups, each\n" +
			"node's reservation and the host volumes the capacity model puts on it, the\n" +
			"LAN and the stratum ports for the firewall, and the floating address for\n" +
			"keepalived (the floating_address role).",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "file to write the inventory to (default: stdout)"},
		},
		Action: func(c *cli.Context) error {
			r, err := runValidate(poolFile(c), true, c.App.Writer, c.App.ErrWriter)
			if err != nil {
				return err
			}
			out := inventory.Build(poolFile(c), r.Pool, r.Jobs).YAML()
			if path := c.String("output"); path != "" {
				if err := os.WriteFile(path, out, 0o644); err != nil {
					return fmt.Errorf("write inventory: %w", err)
				}
				return nil
			}
			_, err = c.App.Writer.Write(out)
			return err
		},
	}
}
